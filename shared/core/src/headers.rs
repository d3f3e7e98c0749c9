//! A case-insensitive, transport-neutral view of request headers.
//!
//! It owns header lookup only: it keeps every value a name was sent with, so a caller can refuse a
//! header that arrived twice instead of silently picking one. It knows nothing of any HTTP library;
//! the ingress adapter fills it.

use serde::{Deserialize, Serialize};

/// Request headers with lower-cased names, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers(Vec<(String, String)>);

/// A header that must appear once appeared several times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("header appears more than once")]
pub struct Repeated;

impl Headers {
    /// Builds the view from name/value pairs; names are folded to lower case.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name.as_ref().to_ascii_lowercase(), value.into()))
                .collect(),
        )
    }

    /// The single value of `name`, which must be given in lower case; `None` when absent.
    ///
    /// A header sent more than once is an error: for signatures and credentials, picking one of
    /// several values would let an attacker choose which one is checked.
    pub fn get_one<'a>(&'a self, name: &str) -> Result<Option<&'a str>, Repeated> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(Repeated);
        }
        Ok(first)
    }

    /// Every value of `name` (lower case), in arrival order.
    pub fn all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        // Stored names are lower case already, so an exact comparison suffices; callers pass
        // lower-case names (the verifier's constants, a configured name folded at start-up).
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A copy holding only the named headers (lower case), e.g. those needed to verify again later.
    pub fn retain_named(&self, names: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(n, _)| names.iter().any(|keep| n.eq_ignore_ascii_case(keep)))
                .cloned()
                .collect(),
        )
    }

    /// Iterates over `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether no header is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_name_case() {
        let headers = Headers::from_pairs([("Svix-Id", "msg_1")]);

        assert_eq!(headers.get_one("svix-id"), Ok(Some("msg_1")));
    }

    #[test]
    fn repeated_header_is_an_error_not_a_choice() {
        let headers = Headers::from_pairs([("svix-id", "a"), ("SVIX-ID", "b")]);

        assert_eq!(headers.get_one("svix-id"), Err(Repeated));
    }

    #[test]
    fn retain_named_keeps_only_listed_headers() {
        let headers = Headers::from_pairs([("svix-id", "a"), ("cookie", "c")]);

        let kept = headers.retain_named(&["svix-id"]);

        assert_eq!(kept.iter().collect::<Vec<_>>(), vec![("svix-id", "a")]);
    }
}
