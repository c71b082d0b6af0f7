/* The candidate-attribute of RFC 8839 section 5.1, with the tcptype
 * extension of RFC 6544 section 4.5, one machine per ABNF rule, named as
 * the ABNF names it ('-' becomes '_'). Grammar only; the actions are
 * defined in candidate.rl, each one line calling a helper there.
 *
 * Quoted strings of the ABNF are case-insensitive (RFC 5234 2.3), so
 * "candidate", "typ", "raddr", "rport", "tcptype" and the candidate
 * types are matched without regard to case (the host stores them in
 * lower case). Where the ABNF is wider than a parser can act on, this
 * grammar is narrower, and says so:
 * - connection-address is IP6-address, IP4-address or an FQDN that is
 *   not made of digits and dots only (the spec's cand-address and
 *   cand-fqdn); RFC 8866's extn-addr (any non-whitespace string) is not
 *   taken, and "300.1.1.1" or "1.2.3" is no address.
 * "raddr" and "rport" after the related parts, and "tcptype" with a value
 * that is not a tcp-type, are extensions as any other token (RFC 8839's
 * extension-att-name is token): they are read and dropped.
 * Error actions follow the frame grammar's policy: each is embedded on
 * the rule it names, the innermost failing rule reports first, and the
 * host keeps the first error. */
%%{
  machine candidate_grammar;
  include sdp_core "sdp_core.rl";

  foundation = ice_char{1,32} >mark %foundation $!err_foundation;

  component_id = DIGIT{1,3} >mark %component_id $!err_component_id;

  # transport = "UDP" / transport-extension; "UDP" and RFC 6544's "TCP"
  # are tokens, so the union is token.
  transport_extension = token;
  transport = ( 'UDP'i | 'TCP'i | transport_extension )
              >mark %transport $!err_transport;

  priority = DIGIT{1,10} >mark %priority $!err_priority;

  # cand-fqdn: an FQDN with at least one octet other than a digit or a
  # dot, so that digits and dots are read as an IP4-address or not at all.
  cand_fqdn = FQDN - ( DIGIT | '.' )+;
  connection_address = IP6_address | IP4_address | cand_fqdn;

  port = DIGIT+;

  candidate_types = 'host'i | 'srflx'i | 'prflx'i | 'relay'i | token;

  cand_type = ( 'typ'i SP candidate_types >mark %cand_type )
              $!err_cand_type;

  rel_addr = ( 'raddr'i SP connection_address >mark %raddr )
             $!err_rel_addr;

  rel_port = ( 'rport'i SP port >mark %rport ) $!err_rel_port;

  tcp_type = 'active'i | 'passive'i | 'so'i;

  tcp_type_ext = ( 'tcptype'i SP tcp_type >mark %tcptype )
                 $!err_tcp_type_ext;

  extension_att_name = token;
  extension_att_value = VCHAR*;
  cand_extension = tcp_type_ext
                 | ( extension_att_name SP extension_att_value )
                   $!err_cand_extension;

  candidate_attribute = 'candidate'i ':' foundation SP component_id SP
                        transport SP priority SP
                        ( connection_address >mark %address
                          $!err_connection_address ) SP
                        ( port >mark %port $!err_port ) SP cand_type
                        ( SP rel_addr )? ( SP rel_port )?
                        ( SP cand_extension )*;
}%%
