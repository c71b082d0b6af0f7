/* Rules that the SDP grammar (sdp_grammar.rl) and the candidate grammar
 * (candidate_grammar.rl) share: RFC 5234 core rules, RFC 8866 section 9
 * basic rules and address rules, RFC 8839 ice-char. Each machine is named
 * as its ABNF rule ('-' becomes '_'). Grammar only: no actions. */
%%{
  machine sdp_core;
  alphtype unsigned char;

  # RFC 5234 core rules.
  ALPHA = 0x41..0x5A | 0x61..0x7A;
  DIGIT = 0x30..0x39;
  HEXDIG = DIGIT | 'A'i | 'B'i | 'C'i | 'D'i | 'E'i | 'F'i;
  SP = 0x20;
  CR = 0x0D;
  LF = 0x0A;
  VCHAR = 0x21..0x7E;

  # RFC 8866 section 5 lets a parser take a lone LF as a line end; the
  # profile does (spec section 19): every line ends with CRLF or LF.
  EOL = CR LF | LF;

  # RFC 8866 section 9, basic rules.
  POS_DIGIT = 0x31..0x39;
  alpha_numeric = ALPHA | DIGIT;
  integer = POS_DIGIT DIGIT*;
  zero_based_integer = '0' | integer;
  token_char = ALPHA | DIGIT | [!#$%&'*+\-.^_`{|}~];
  token = token_char+;
  byte_string = ( 0x01..0x09 | 0x0B..0x0C | 0x0E..0xFF )+;
  text = byte_string;
  non_ws_string = ( VCHAR | 0x80..0xFF )+;
  decimal_uchar = DIGIT
                | POS_DIGIT DIGIT
                | '1' DIGIT DIGIT
                | '2' 0x30..0x34 DIGIT
                | '25' 0x30..0x35;

  # RFC 8866 address rules; IP6-address is RFC 3986's IPv6address.
  IP4_address = decimal_uchar ( '.' decimal_uchar ){3};
  h16 = HEXDIG{1,4};
  ls32 = h16 ':' h16 | IP4_address;
  IP6_address = ( h16 ':' ){6} ls32
              | '::' ( h16 ':' ){5} ls32
              | h16? '::' ( h16 ':' ){4} ls32
              | ( ( h16 ':' ){0,1} h16 )? '::' ( h16 ':' ){3} ls32
              | ( ( h16 ':' ){0,2} h16 )? '::' ( h16 ':' ){2} ls32
              | ( ( h16 ':' ){0,3} h16 )? '::' h16 ':' ls32
              | ( ( h16 ':' ){0,4} h16 )? '::' ls32
              | ( ( h16 ':' ){0,5} h16 )? '::' h16
              | ( ( h16 ':' ){0,6} h16 )? '::';
  FQDN = ( alpha_numeric | '-' | '.' ){4,};
  extn_addr = non_ws_string;
  unicast_address = IP4_address | IP6_address | FQDN | extn_addr;

  # RFC 8839 section 5.1.
  ice_char = ALPHA | DIGIT | '+' | '/';
}%%
