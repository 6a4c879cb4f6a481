//! Model-id globs: `*` matches any run of characters (including `/`), `?`
//! one character; everything else is literal. `"*"` allows every model and
//! `"*:free"` every free variant, as plans in SPEC §2 write them.

/// Does `pattern` match the whole of `text`?
pub fn matches(pattern: &str, text: &str) -> bool {
    // Works on bytes (no allocation: this runs on every decision). Literal
    // runs of UTF-8 match byte for byte; `?` consumes one whole character.
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // Iterative wildcard matching with one backtrack point: linear in practice,
    // never exponential, so a hostile pattern cannot stall a decision.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'?' {
            pi += 1;
            ti += utf8_len(t[ti]);
        } else if pi < p.len() && p[pi] == t[ti] && p[pi] != b'*' {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the star swallow one more character and retry.
            let next = st + utf8_len(t[st]);
            pi = sp + 1;
            ti = next;
            star = Some((sp, next));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len() && ti == t.len()
}

/// Length of the UTF-8 character that starts with byte `b`.
fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*", "openai/gpt-4o"));
        assert!(matches("*", ""));
        assert!(matches("*:free", "meta-llama/llama-3.3-8b-instruct:free"));
        assert!(!matches("*:free", "openai/gpt-4o-mini"));
        assert!(matches("openai/gpt-4o*", "openai/gpt-4o-mini"));
        assert!(matches("openai/gpt-4o*", "openai/gpt-4o"));
        assert!(!matches("openai/gpt-4o*", "openai/gpt-4"));
        assert!(matches("openai/gpt-4o-mini", "openai/gpt-4o-mini"));
        assert!(!matches("openai/gpt-4o-mini", "openai/gpt-4o-mini-x"));
        assert!(matches("a?c", "abc"));
        assert!(matches("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!matches("*a*b*c*d", "xxaxxbxxcxx"));
        assert!(matches("**", "x"));
        assert!(matches("مدل-?", "مدل-ی"));
        assert!(matches("*ی", "مدل-ی"));
        assert!(!matches("مدل-?", "مدل-یی"));
        assert!(!matches("a?", "a"));
    }
}
