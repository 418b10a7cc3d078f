//! Who is asking, as the decision function sees it, and the names a policy
//! may use for them.
//!
//! Every credential is its own S3 "account": it owns buckets, has a
//! canonical user id (64 hex, shown in ACLs and `Owner`) and an account id
//! of 12 digits (its credential id, zero-padded) for ARNs
//! (`arn:aws:iam::000000000002:user/alice`, `arn:aws:iam::000000000002:root`).

use ring::digest;

/// Length of a canonical user id in hex digits.
pub const CANONICAL_ID_HEX_LEN: usize = 64;
/// Length of an account id in decimal digits.
pub const ACCOUNT_ID_DIGITS: usize = 12;

/// Derives a credential's canonical user id: SHA-256 of its (never reused)
/// credential id under a fixed tag. It is the id S3 clients already saw as
/// `Owner/ID` before ACLs existed, so upgrading keeps every id they hold.
/// Computed once, when the credential is created (or at the first start
/// of an older data dir), and stored.
pub fn derive_canonical_id(credential_id: u64) -> String {
    let d = digest::digest(
        &digest::SHA256,
        format!("ringstore-owner-{credential_id}").as_bytes(),
    );
    crate::util::hex::encode(d.as_ref())
}

/// Whether `s` has the form of a canonical user id.
pub fn is_canonical_id(s: &str) -> bool {
    s.len() == CANONICAL_ID_HEX_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A credential's account id: its credential id as 12 digits.
pub fn account_id(credential_id: u64) -> String {
    format!("{credential_id:0width$}", width = ACCOUNT_ID_DIGITS)
}

/// Parses a 12-digit account id back to its credential id.
pub fn parse_account_id(s: &str) -> Option<u64> {
    if s.len() != ACCOUNT_ID_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The requester, borrowed from the catalog for one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    Anonymous,
    User(&'a UserIdentity),
}

/// An authenticated credential as the evaluator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdentity {
    pub credential_id: u64,
    pub canonical_id: String,
    pub user_name: String,
    pub access_key: String,
    /// The root credential: allowed everything, as before policies existed.
    pub is_root: bool,
}

impl Requester<'_> {
    pub fn canonical_id(&self) -> Option<&str> {
        match self {
            Requester::Anonymous => None,
            Requester::User(u) => Some(&u.canonical_id),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Requester::Anonymous)
    }
}

/// One entry of a statement's `Principal` / `NotPrincipal`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalPattern {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous included.
    Everyone,
    /// `arn:aws:iam::<account>:root` or a bare 12-digit account id.
    Account(u64),
    /// `arn:aws:iam::<account>:user/<name>` (the user name must match too).
    User { account: u64, user_name: String },
    /// `{"CanonicalUser": "<64 hex>"}`.
    Canonical(String),
    /// A credential's access key (`{"AWS": "AKIA..."}`), as MinIO and
    /// other S3 servers accept.
    AccessKey(String),
}

impl PrincipalPattern {
    pub fn matches(&self, requester: &Requester) -> bool {
        let user = match (self, requester) {
            (PrincipalPattern::Everyone, _) => return true,
            (_, Requester::Anonymous) => return false,
            (_, Requester::User(u)) => u,
        };
        match self {
            PrincipalPattern::Everyone => true,
            PrincipalPattern::Account(a) => *a == user.credential_id,
            PrincipalPattern::User { account, user_name } => {
                *account == user.credential_id && *user_name == user.user_name
            }
            PrincipalPattern::Canonical(id) => id.eq_ignore_ascii_case(&user.canonical_id),
            PrincipalPattern::AccessKey(k) => *k == user.access_key,
        }
    }

    /// Parses one `AWS` principal string. None: not a form we accept.
    pub fn parse_aws(s: &str) -> Option<PrincipalPattern> {
        if s == "*" {
            return Some(PrincipalPattern::Everyone);
        }
        if let Some(account) = parse_account_id(s) {
            return Some(PrincipalPattern::Account(account));
        }
        if let Some(rest) = s.strip_prefix("arn:aws:iam::") {
            let (account, resource) = rest.split_once(':')?;
            let account = parse_account_id(account)?;
            if resource == "root" {
                return Some(PrincipalPattern::Account(account));
            }
            let user_name = resource.strip_prefix("user/")?;
            // IAM paths (`user/path/name`) are not modelled: the name is the last part.
            if user_name.is_empty() || user_name.contains('/') {
                return None;
            }
            return Some(PrincipalPattern::User {
                account,
                user_name: user_name.to_string(),
            });
        }
        let looks_like_key = (3..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        looks_like_key.then(|| PrincipalPattern::AccessKey(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ids_are_64_hex_and_differ_per_credential() {
        let a = derive_canonical_id(2);
        let b = derive_canonical_id(3);
        assert!(is_canonical_id(&a));
        assert_ne!(a, b);
        assert_eq!(a, derive_canonical_id(2));
    }

    #[test]
    fn principal_forms() {
        use PrincipalPattern as P;
        assert_eq!(P::parse_aws("*"), Some(P::Everyone));
        assert_eq!(P::parse_aws("000000000002"), Some(P::Account(2)));
        assert_eq!(
            P::parse_aws("arn:aws:iam::000000000002:root"),
            Some(P::Account(2))
        );
        assert_eq!(
            P::parse_aws("arn:aws:iam::000000000002:user/alice"),
            Some(P::User {
                account: 2,
                user_name: "alice".into()
            })
        );
        assert_eq!(P::parse_aws("arn:aws:iam::2:root"), None);
        assert_eq!(P::parse_aws("arn:aws:iam::000000000002:role/x"), None);
        assert_eq!(
            P::parse_aws("AKIAEXAMPLE"),
            Some(P::AccessKey("AKIAEXAMPLE".into()))
        );
        assert_eq!(P::parse_aws("not a principal"), None);
    }
}
