//! Who may connect, and what each client may publish and subscribe to.
//!
//! [`Authenticator`] is the hook CONNECT calls; the static user list from
//! the config is the implementation for now (the auth issue plugs tokens
//! in behind the same trait). [`Acl`] is the config's topic rules: the
//! first rule whose user and action fit and whose filter matches decides;
//! no matching rule allows.

use crate::config::{AclAction, AclRule, MqttConfig, MqttUser};
use wire::mqtt::validate::filter_matches;

/// The outcome of a CONNECT's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthResult {
    /// Connect.
    Allowed,
    /// Wrong user name or password (0x86 / 3.1.1 code 4).
    BadCredentials,
    /// Anonymous connections are off (0x87 / 3.1.1 code 5).
    NotAuthorized,
}

/// Checks CONNECT credentials.
pub trait Authenticator: Send + Sync {
    /// Decides on a CONNECT's user name and password.
    fn check(&self, client_id: &str, username: Option<&str>, password: Option<&[u8]>)
        -> AuthResult;
}

/// The config's user list.
#[derive(Debug)]
pub struct StaticUsers {
    users: Vec<MqttUser>,
    allow_anonymous: bool,
}

impl StaticUsers {
    /// From the `[mqtt]` section.
    pub fn new(cfg: &MqttConfig) -> StaticUsers {
        StaticUsers {
            users: cfg.users.clone(),
            allow_anonymous: cfg.allow_anonymous,
        }
    }
}

impl Authenticator for StaticUsers {
    fn check(&self, _client: &str, username: Option<&str>, password: Option<&[u8]>) -> AuthResult {
        let Some(name) = username else {
            return match self.allow_anonymous {
                true => AuthResult::Allowed,
                false => AuthResult::NotAuthorized,
            };
        };
        let Some(user) = self.users.iter().find(|u| u.name == name) else {
            // An unknown name with anonymous access on connects as
            // anonymous would; without, it is a bad credential.
            return match self.allow_anonymous && password.is_none() {
                true => AuthResult::Allowed,
                false => AuthResult::BadCredentials,
            };
        };
        match password.is_some_and(|p| constant_time_eq(p, user.password.as_bytes())) {
            true => AuthResult::Allowed,
            false => AuthResult::BadCredentials,
        }
    }
}

/// Compares without an early exit, so timing does not leak a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a client wants to do with a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// PUBLISH to a topic name (or a will).
    Publish,
    /// SUBSCRIBE with a filter.
    Subscribe,
}

/// The config's topic rules.
#[derive(Debug, Default)]
pub struct Acl {
    rules: Vec<AclRule>,
}

impl Acl {
    /// From the `[mqtt]` section.
    pub fn new(cfg: &MqttConfig) -> Acl {
        Acl {
            rules: cfg.acl.clone(),
        }
    }

    /// Whether `user` may do `access` on `topic` (a topic name for
    /// publish, a filter for subscribe: a subscribe filter is checked as
    /// text against the rule's filter, so `secret/#` covers `secret/+`).
    pub fn allows(&self, user: Option<&str>, access: Access, topic: &str) -> bool {
        let fits = |r: &&AclRule| {
            let action = matches!(
                (r.action, access),
                (AclAction::All, _)
                    | (AclAction::Publish, Access::Publish)
                    | (AclAction::Subscribe, Access::Subscribe)
            );
            action && (r.user.is_none() || r.user.as_deref() == user)
        };
        self.rules
            .iter()
            .filter(fits)
            .find(|r| filter_matches(&r.topic, topic))
            .is_none_or(|r| r.allow)
    }

    /// Whether there are no rules (the publish path skips the check).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> MqttConfig {
        crate::config::Config::from_toml(
            r#"
[mqtt]
allow_anonymous = false
[[mqtt.users]]
name = "alice"
password = "secret"
[[mqtt.acl]]
user = "alice"
action = "publish"
topic = "secret/#"
allow = false
[[mqtt.acl]]
action = "all"
topic = "admin/#"
allow = false
"#,
        )
        .unwrap()
        .mqtt
    }

    #[test]
    fn static_users_check_name_and_password() {
        let u = StaticUsers::new(&cfg());
        assert_eq!(
            u.check("c", Some("alice"), Some(b"secret")),
            AuthResult::Allowed
        );
        assert_eq!(
            u.check("c", Some("alice"), Some(b"nope")),
            AuthResult::BadCredentials
        );
        assert_eq!(
            u.check("c", Some("alice"), None),
            AuthResult::BadCredentials
        );
        assert_eq!(
            u.check("c", Some("bob"), Some(b"x")),
            AuthResult::BadCredentials
        );
        assert_eq!(u.check("c", None, None), AuthResult::NotAuthorized);
    }

    #[test]
    fn the_first_fitting_rule_decides() {
        let acl = Acl::new(&cfg());
        assert!(!acl.allows(Some("alice"), Access::Publish, "secret/x"));
        assert!(acl.allows(Some("alice"), Access::Subscribe, "secret/x"));
        assert!(acl.allows(Some("bob"), Access::Publish, "secret/x"));
        assert!(!acl.allows(None, Access::Subscribe, "admin/#"));
        assert!(!acl.allows(Some("bob"), Access::Publish, "admin/a"));
        assert!(acl.allows(None, Access::Publish, "other"));
    }
}
