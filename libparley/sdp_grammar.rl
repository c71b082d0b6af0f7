/* SDP grammar (RFC 8866 section 9), one machine per ABNF rule. */
%%{
  machine sdp_grammar;
  alphtype unsigned char;
  CRLF = 0x0D 0x0A;
  sdp_line = ( any - 0x0A )* 0x0A;
}%%
