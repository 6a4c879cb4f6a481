//! Model-id globs: `*` matches any run of characters (including `/`), `?`
//! one character; everything else is literal. `"*"` allows every model and
//! `"*:free"` every free variant, as plans in SPEC §2 write them.

/// Does `pattern` match the whole of `text`?
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative wildcard matching with one backtrack point: linear in practice,
    // never exponential, so a hostile pattern cannot stall a decision.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
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
    }
}
