/* The frame grammar of spec/parley-1.md section 2.1, one Ragel machine per
 * ABNF rule and named as the ABNF names it ('-' becomes '_').
 *
 * This file holds grammar only. The actions it names are defined in
 * frame_parser.rl, which includes this file; each is one line calling a
 * helper there. Which error a fault gets is the table of section 2.8.
 * Error actions follow one policy: the innermost rule that fails reports,
 * so each error action is embedded on the rule it names and the parser
 * keeps the first error set for an octet. `$!` covers all states of a
 * rule, `@!` all but its final ones (a failure after a complete verb is
 * the start line's), `>!` the start state (the octet after a CR), `<>!`
 * the states inside a UTF-8 sequence.
 *
 * What the ABNF leaves to prose is checked by the actions: the verb limit
 * (32 octets), the header line and header count limits, duplicate names
 * and the content-length value (sections 2.3 and 2.4). The body's length
 * is counted by the host, which runs `body` over exactly content-length
 * octets. */
%%{
  machine frame_grammar;
  alphtype unsigned char;

  # RFC 5234 core rules.
  DIGIT = 0x30..0x39;
  SP = 0x20;
  CR = 0x0D;
  LF = 0x0A;
  CRLF = CR LF;

  UPALPHA = 0x41..0x5A;
  LOALPHA = 0x61..0x7A;

  # RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF.
  UTF8_1 = 0x00..0x7F;
  UTF8_tail = 0x80..0xBF;
  UTF8_2 = 0xC2..0xDF UTF8_tail;
  UTF8_3 = 0xE0 0xA0..0xBF UTF8_tail
         | 0xE1..0xEC UTF8_tail{2}
         | 0xED 0x80..0x9F UTF8_tail
         | 0xEE..0xEF UTF8_tail{2};
  UTF8_4 = 0xF0 0x90..0xBF UTF8_tail{2}
         | 0xF1..0xF3 UTF8_tail{3}
         | 0xF4 0x80..0x8F UTF8_tail{2};
  UTF8_tail_char = ( UTF8_2 | UTF8_3 | UTF8_4 )
                   >utf8_begin @utf8_end <>!err_utf8;
  UTF8_char = UTF8_1 | UTF8_tail_char;

  verb = ( UPALPHA ( UPALPHA | DIGIT | '-' )* ) $verb_octet $!err_verb;

  start_line = ( verb %verb_end CRLF ) @!err_start_line;

  header_name = ( LOALPHA ( LOALPHA | DIGIT | '-' )* )
                >name_begin $!err_header_name;

  header_char = 0x20..0x7E | UTF8_tail_char;

  header_value = header_char* $!err_header_value;

  # header-line = header-name ":" SP header-value CRLF; a CR without its
  # LF is reported at the CR, as a fault of the value.
  header_line = ( ( header_name %name_end ':' SP @value_begin
                    header_value %value_end ) $line_octet
                  CR ( LF >!err_bare_cr ) @line_end ) @!err_header_line;

  # frame = start-line *header-line CRLF body; the machine stops after the
  # blank line, and the host runs `body` over content-length octets.
  frame = start_line header_line* CR ( LF >!err_blank_line ) @head_done;

  # body = *OCTET, which FRAME-5 restricts to UTF-8 text.
  body = UTF8_char* $!err_body;

  # Not an ABNF rule: an octet of %x80 or more where a verb octet should
  # be is either bad UTF-8 (403) or a valid character that is not allowed
  # in a verb (400). This reads the one character to tell which.
  verb_non_ascii = UTF8_tail_char @err_verb_char $!err_verb_utf8;
}%%
