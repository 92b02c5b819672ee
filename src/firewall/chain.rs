//! The live chain, pure: parsing `iptables -S DOCKER-USER`, finding
//! pgshadow's rules by their `pgshadow:<port>` comment, and what differs
//! from the wanted rules. Rules without that comment are never ours.

use super::CHAIN;
use super::rules::{Family, Rule, Verdict, comment};

/// One `-A DOCKER-USER ...` line of `iptables -S`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    /// 1-based position in the chain.
    pub position: usize,
    /// The arguments after `-A DOCKER-USER`, unquoted.
    pub args: Vec<String>,
    /// The line as iptables printed it.
    pub line: String,
}

/// The rules of the chain in order; `-N`, `-P` and warning lines are skipped.
pub fn parse_chain(text: &str) -> Vec<LiveRule> {
    let append = format!("-A {CHAIN} ");
    text.lines()
        .filter(|line| line.starts_with(&append))
        .enumerate()
        .map(|(i, line)| LiveRule {
            position: i + 1,
            args: split_words(&line[append.len()..]),
            line: line.to_string(),
        })
        .collect()
}

/// Splits a line the way iptables quotes it: blanks separate words, and a
/// double-quoted word may hold blanks and `\"`.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = text.chars();
    let mut word: Option<String> = None;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            '\\' if quoted => word.get_or_insert_with(String::new).extend(chars.next()),
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

impl LiveRule {
    /// The `--comment` value, if the rule has one.
    pub fn comment(&self) -> Option<&str> {
        let at = self.args.iter().position(|a| a == "--comment")?;
        self.args.get(at + 1).map(String::as_str)
    }

    /// Whether pgshadow wrote this rule for `port`.
    pub fn is_pgshadow(&self, port: u16) -> bool {
        self.comment() == Some(comment(port).as_str())
    }

    /// The rule as one of pgshadow's, when it is exactly of that form; a
    /// rule with any other option (an interface, a hand-edited match) is not.
    pub fn as_rule(&self, family: Family) -> Option<Rule> {
        let (mut source, mut port, mut verdict) = (None, None, None);
        let mut seen = Vec::new();
        let mut args = self.args.iter().map(String::as_str);
        while let Some(option) = args.next() {
            let value = args.next()?;
            match (option, value) {
                ("-s", v) => source = Some(v.parse().ok()?),
                ("--ctorigdstport", v) => port = Some(v.parse::<u16>().ok()?),
                ("-j", "ACCEPT") => verdict = Some(Verdict::Accept),
                ("-j", "DROP") => verdict = Some(Verdict::Drop),
                ("-p", "tcp") | ("--ctstate", "DNAT") | ("--ctdir", "ORIGINAL") => {
                    seen.push(option)
                }
                ("-m", "conntrack" | "comment") | ("--comment", _) => {}
                _ => return None,
            }
        }
        let complete = ["-p", "--ctstate", "--ctdir"]
            .iter()
            .all(|o| seen.contains(o));
        let rule = Rule {
            family,
            source,
            port: port?,
            verdict: verdict?,
        };
        (complete && self.is_pgshadow(rule.port)).then_some(rule)
    }

    /// A rule that matches every packet and ends the chain (Docker's
    /// `-j RETURN`): rules after it never see a packet.
    fn ends_chain(&self) -> bool {
        self.args.len() == 2 && self.args[0] == "-j"
    }
}

/// How the live rules of one family differ from the wanted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub family: Family,
    /// Wanted rules the chain lacks.
    pub missing: Vec<Rule>,
    /// pgshadow rules for the port that are not wanted.
    pub unexpected: Vec<LiveRule>,
    /// The same rules, in another order.
    pub reordered: bool,
    /// pgshadow rules behind a rule that ends the chain, and that rule.
    pub shadowed: Vec<(LiveRule, LiveRule)>,
}

impl Drift {
    /// Compares the chain's pgshadow rules for the port with `wanted`.
    pub fn between(family: Family, wanted: &[Rule], live: &[LiveRule]) -> Drift {
        let port = wanted.first().map(|r| r.port).unwrap_or(0);
        let ours: Vec<&LiveRule> = live.iter().filter(|r| r.is_pgshadow(port)).collect();
        let parsed: Vec<Option<Rule>> = ours.iter().map(|r| r.as_rule(family)).collect();

        let mut used = vec![false; ours.len()];
        let mut missing = Vec::new();
        for rule in wanted {
            let found = (0..ours.len()).find(|&i| !used[i] && parsed[i].as_ref() == Some(rule));
            match found {
                Some(i) => used[i] = true,
                None => missing.push(rule.clone()),
            }
        }
        let unexpected: Vec<LiveRule> = (0..ours.len())
            .filter(|&i| !used[i])
            .map(|i| ours[i].clone())
            .collect();
        let in_order = parsed.iter().flatten().eq(wanted.iter());
        let reordered = missing.is_empty() && unexpected.is_empty() && !in_order;

        let end = live.iter().find(|r| r.ends_chain());
        let shadowed = match end {
            Some(end) => ours
                .iter()
                .filter(|r| r.position > end.position)
                .map(|r| ((*r).clone(), end.clone()))
                .collect(),
            None => Vec::new(),
        };
        Drift {
            family,
            missing,
            unexpected,
            reordered,
            shadowed,
        }
    }

    /// Whether the chain holds exactly the wanted rules where they work.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && !self.reordered
            && self.shadowed.is_empty()
    }

    /// The difference for people: `+` for a missing rule, `-` for one that
    /// should go, `!` for rules in the wrong place.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.missing.iter().map(|r| format!("+ {r}")).collect();
        lines.extend(self.unexpected.iter().map(|r| format!("- {}", r.line)));
        if self.reordered {
            lines.push("! the rules are there, in another order".into());
        }
        for (rule, end) in &self.shadowed {
            lines.push(format!(
                "! rule {} comes after `{}` (rule {}) and never matches: {}",
                rule.position, end.line, end.position, rule.line
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests;
