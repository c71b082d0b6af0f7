/* The SDP grammar (RFC 8866 section 9) for the lines of the profile of
 * spec section 19, one Ragel machine per ABNF rule, named as the ABNF
 * names it ('-' becomes '_'). The attributes the profile reads have the
 * grammar of the RFC that defines them: rtpmap and fmtp (RFC 8866 6.6,
 * 6.15), ice-ufrag, ice-pwd, ice-options and candidate (RFC 8839 5),
 * end-of-candidates (RFC 8840), fingerprint (RFC 8122 5), setup (RFC 4145
 * 4), mid and group (RFC 5888), rtcp-mux (RFC 5761), the direction flags
 * (RFC 8866 6.7). Any other attribute is RFC 8866's generic
 * `attribute-name [":" attribute-value]`, read and ignored.
 *
 * This file holds grammar only; sdp.rl includes it, defines the actions,
 * one line each calling a helper there, and runs `sdp_line` over one line
 * at a time (the host checks the order of the lines, which the ABNF's
 * session-description states). Each field rule ends with its line end.
 *
 * Where this grammar is wider or narrower than the RFCs, it says so:
 * - EOL: a lone LF ends a line as CRLF does (RFC 8866 section 5 lets
 *   parsers accept it);
 * - attribute names are matched as written (lower case): "a=RTPMAP:..."
 *   is an unknown attribute and is ignored;
 * - a generic attribute may have an empty value ("a=name:"), as RFC 3611's
 *   rtcp-xr does; RFC 8866's byte-string needs one octet;
 * - fingerprint: RFC 8122 writes the hex digits in upper case (UHEX);
 *   lower case is taken too;
 * - uri is any run of the characters RFC 3986 allows in a URI, with
 *   pct-encoded triplets checked; its structure is not;
 * - addr-spec (RFC 5322) is the dot-atom form local "@" domain;
 * - quoted strings of the ABNF are case-insensitive where a value is one
 *   (setup roles, "IN"), but the type letters are %s (case-sensitive).
 * Error actions follow the frame grammar's policy: each is embedded on
 * the rule it names; the innermost rule failing on an octet reports, and
 * the host keeps the first error. */
%%{
  machine sdp_grammar;
  include sdp_core "sdp_core.rl";

  # ---- values of the fields ----------------------------------------------
  username = non_ws_string;
  sess_id = DIGIT+;
  sess_version = DIGIT+;
  nettype = token;
  addrtype = token;

  unreserved = ALPHA | DIGIT | [\-._~];
  reserved = [:/?#\[\]@!$&'()*+,;=];
  pct_encoded = '%' HEXDIG HEXDIG;
  uri = ( unreserved | reserved | pct_encoded )+;

  email_safe = 0x01..0x09 | 0x0B..0x0C | 0x0E..0x27 | 0x2A..0x3B | 0x3D
             | 0x3F..0xFF;
  atext = ALPHA | DIGIT | [!#$%&'*+\-/=?^_`{|}~];
  dot_atom = atext+ ( '.' atext+ )*;
  addr_spec = dot_atom '@' dot_atom;
  address_and_comment = addr_spec SP+ '(' email_safe+ ')';
  dispname_and_address = email_safe+ SP+ '<' addr_spec '>';
  email_address = address_and_comment | dispname_and_address | addr_spec;

  phone = '+'? DIGIT ( SP | '-' | DIGIT )+;
  phone_number = phone SP* '(' email_safe+ ')'
               | email_safe+ '<' phone '>'
               | phone;

  m1 = '22' 0x34..0x39 | '23' DIGIT;
  ttl = POS_DIGIT DIGIT{0,2} | '0';
  numaddr = integer;
  IP4_multicast = m1 ( '.' decimal_uchar ){3} '/' ttl ( '/' numaddr )?;
  IP6_multicast = IP6_address '/' numaddr;
  multicast_address = IP4_multicast | IP6_multicast | FQDN | extn_addr;
  connection_address = multicast_address | unicast_address;

  bwtype = token;
  bandwidth = DIGIT+;

  time = POS_DIGIT DIGIT{9,};
  start_time = time | '0';
  stop_time = time | '0';
  fixed_len_time_unit = 'd' | 'h' | 'm' | 's';
  repeat_interval = POS_DIGIT DIGIT* fixed_len_time_unit?;
  typed_time = DIGIT+ fixed_len_time_unit?;

  base64_char = ALPHA | DIGIT | '+' | '/';
  base64_unit = base64_char{4};
  base64_pad = base64_char{2} '==' | base64_char{3} '=';
  base64 = base64_unit* base64_pad?;
  key_type = 'prompt' | 'clear:' text | 'base64:' base64 | 'uri:' uri;

  media = token;
  port = DIGIT+;
  proto = token ( '/' token )*;
  fmt = token;

  # ---- attributes the profile reads --------------------------------------
  payload_type = zero_based_integer;
  encoding_name = token;
  clock_rate = integer;
  encoding_params = integer;
  rtpmap_value = ( payload_type SP encoding_name '/' clock_rate
                   ( '/' encoding_params )? ) $!err_rtpmap_value;
  rtpmap_attribute = 'rtpmap:' rtpmap_value >mark %rtpmap;

  format_specific_params = byte_string;
  fmtp_value = ( fmt SP format_specific_params ) $!err_fmtp_value;
  fmtp_attribute = 'fmtp:' fmtp_value >mark %fmtp;

  ufrag = ice_char+;
  ice_ufrag_att = 'ice-ufrag:' ( ufrag >mark %ice_ufrag $!err_ice_ufrag_att );

  password = ice_char+;
  ice_pwd_att = 'ice-pwd:' ( password >mark %ice_pwd $!err_ice_pwd_att );

  ice_option_tag = ice_char+ >mark %ice_option_tag;
  ice_options = 'ice-options:'
                ( ice_option_tag ( SP ice_option_tag )* ) $!err_ice_options;

  hash_func = token;
  fingerprint = HEXDIG{2} ( ':' HEXDIG{2} )*;
  fingerprint_attribute = 'fingerprint:'
                          ( hash_func >mark %hash_func SP
                            fingerprint >mark %fingerprint )
                          $!err_fingerprint_attribute;

  role = 'active'i | 'passive'i | 'actpass'i | 'holdconn'i;
  setup_attr = 'setup:' ( role >mark %setup $!err_setup_attr );

  identification_tag = token;
  mid_attribute = 'mid:' ( identification_tag >mark %mid $!err_mid_attribute );

  semantics = 'LS' | 'FID' | token;
  group_attribute = 'group:'
                    ( semantics ( SP identification_tag )* )
                    $!err_group_attribute;

  rtcp_mux_attr = 'rtcp-mux' %rtcp_mux;

  direction = ( 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive' )
              >mark %direction;

  # The value is the candidate-attribute of RFC 8839, which the host hands
  # to the candidate parser (candidate_grammar.rl); an empty one is left
  # to it too, so that its error names the rule.
  candidate_attribute = 'candidate:' byte_string?;
  candidate_att = candidate_attribute >mark %candidate;

  end_of_candidates = 'end-of-candidates' %end_of_candidates;

  # ---- any other attribute -----------------------------------------------
  known_attribute_name = 'rtpmap' | 'fmtp' | 'ice-ufrag' | 'ice-pwd'
                       | 'ice-options' | 'fingerprint' | 'setup' | 'mid'
                       | 'group' | 'rtcp-mux' | 'sendrecv' | 'sendonly'
                       | 'recvonly' | 'inactive' | 'candidate'
                       | 'end-of-candidates';
  attribute_name = token;
  attribute_value = byte_string;
  other_attribute = ( attribute_name - known_attribute_name )
                    ( ':' attribute_value? )?;

  attribute = rtpmap_attribute | fmtp_attribute | ice_ufrag_att
            | ice_pwd_att | ice_options | fingerprint_attribute
            | setup_attr | mid_attribute | group_attribute | rtcp_mux_attr
            | direction | candidate_att | end_of_candidates
            | other_attribute;

  # ---- the fields (lines) ------------------------------------------------
  version_field = ( 'v=' DIGIT+ >mark %version EOL ) $!err_version_field;

  origin_field = ( 'o=' username >mark %origin_user
                   SP sess_id >mark %sess_id
                   SP sess_version >mark %sess_version
                   SP nettype SP addrtype
                   SP unicast_address >mark %origin_addr EOL )
                 $!err_origin_field;

  session_name_field = ( 's=' text EOL ) $!err_session_name_field;
  information_field = ( 'i=' text EOL ) $!err_information_field;
  uri_field = ( 'u=' uri EOL ) $!err_uri_field;
  email_field = ( 'e=' email_address EOL ) $!err_email_field;
  phone_field = ( 'p=' phone_number EOL ) $!err_phone_field;
  connection_field = ( 'c=' nettype SP addrtype SP connection_address EOL )
                     $!err_connection_field;
  bandwidth_field = ( 'b=' bwtype ':' bandwidth EOL ) $!err_bandwidth_field;
  time_field = ( 't=' start_time SP stop_time EOL ) $!err_time_field;
  repeat_field = ( 'r=' repeat_interval SP typed_time ( SP typed_time )+
                   EOL ) $!err_repeat_field;
  zone_field = ( 'z=' time SP '-'? typed_time
                 ( SP time SP '-'? typed_time )* EOL ) $!err_zone_field;
  key_field = ( 'k=' key_type EOL ) $!err_key_field;
  attribute_field = ( 'a=' attribute EOL ) $!err_attribute_field;

  media_field = ( 'm=' media >mark %media
                  SP port >mark %media_port ( '/' integer )?
                  SP proto >mark %proto
                  SP ( fmt ( SP fmt )* ) >mark %formats EOL )
                $!err_media_field;

  # One line of a session-description or a media-description; the host
  # checks that the lines come in the order of RFC 8866 section 9.
  sdp_line = version_field | origin_field | session_name_field
           | information_field | uri_field | email_field | phone_field
           | connection_field | bandwidth_field | time_field
           | repeat_field | zone_field | key_field | attribute_field
           | media_field;
}%%
