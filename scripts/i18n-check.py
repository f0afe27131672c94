#!/usr/bin/env python3
"""i18n-check.py FILE...: the guard that no user-visible text of gwctl or gwtui escapes gettext
(common/i18n.h), run by `make po-check`.

Flags each call that prints a string literal with words in it -- printf, fprintf, fputs, puts,
scr_printf, scr_text -- unless the literal is inside _() / N_() / ngettext(), or the line (or the
line above) (or any line of the call) carries the marker `i18n: not translated` with the reason (machine-read output: JSON,
TSV, CSV, a key or an id alone, --list-keys, table headers that are --json field names); a block
between `i18n: not translated from here` and `i18n: translated from here` is marked whole.
Messages passed to gw_err, gw_usage, not_live, say and ask_confirm are translated inside those
helpers (the Makefile's XGETTEXT_KEYWORDS) and are not calls of this list.
Prints FILE:LINE: the literal, and exits 1 when anything is flagged."""
import re, sys

CALL = re.compile(r'\b(printf|fprintf|fputs|puts|scr_printf|scr_text)\s*\(')
WORDS = re.compile(r'[A-Za-z]{3,}')
MARK = 'i18n: not translated'


def literals_outside_gettext(args):
    """The string literals of args printed as they are: at the top level of an argument (a format,
    a ternary's branch, a concatenation), not inside _( ), N_( ), ngettext( ) or any other call
    (a literal passed to str_of(), getenv(), strcmp() ... is not printed)."""
    out, i, stack = [], 0, []
    while i < len(args):
        c = args[i]
        if c == '"':
            j = i + 1
            while j < len(args) and args[j] != '"':
                j += 2 if args[j] == '\\' else 1
            if not stack:
                out.append(args[i + 1:j])
            i = j + 1
            continue
        if c == "'":
            j = i + 1
            while j < len(args) and args[j] != "'":
                j += 2 if args[j] == '\\' else 1
            i = j + 1
            continue
        if c == '(':
            m = re.search(r'(\b_|\bN_|\bngettext|\bgettext)\s*$', args[:i])
            stack.append(bool(m))
        elif c == ')':
            if not stack:
                break
            stack.pop()
        i += 1
    return out


def call_args(text, start):
    """The text of a call's arguments, from the '(' at start to its matching ')'."""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c in '"\'':
            q, i = c, i + 1
            while i < len(text) and text[i] != q:
                i += 2 if text[i] == '\\' else 1
        elif c == '(':
            depth += 1
        elif c == ')':
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
        i += 1
    return text[start + 1:]


bad = 0
for path in sys.argv[1:]:
    text = open(path, encoding='utf-8').read()
    # comments out (kept as blanks, so line numbers hold), the marker remembered per line
    lines = text.split('\n')
    marked, inside = set(), False
    for n, l in enumerate(lines):
        if MARK + ' from here' in l:
            inside = True
        if inside or MARK in l:
            marked.add(n + 1)
        if 'i18n: translated from here' in l:
            inside = False
    code = re.sub(r'/\*.*?\*/|//[^\n]*', lambda m: re.sub(r'[^\n]', ' ', m.group(0)), text, flags=re.S)
    for m in CALL.finditer(code):
        line = code.count('\n', 0, m.start()) + 1
        args = call_args(code, m.end() - 1)
        last = line + args.count('\n')
        if any(n in marked for n in range(line - 1, last + 1)):
            continue
        # a literal that only formats (no words) or only names a stream is not text
        for lit in literals_outside_gettext(args):
            words = WORDS.findall(re.sub(r'%[-+ #0-9.*]*(l|ll|z|h|j)?[a-zA-Z]|\\[nt]|<PRI\w+>|\bgw(ctl|tui)\b', ' ', lit))
            if words:
                print(f"{path}:{line}: \"{lit}\" is printed untranslated (wrap it in _(), or mark the line "
                      f"'{MARK}: why')")
                bad += 1
sys.exit(1 if bad else 0)
