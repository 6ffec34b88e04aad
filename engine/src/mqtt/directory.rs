//! Which core owns each client id's session, node-wide.
//!
//! A client may reconnect on any core (the kernel spreads accepts over the
//! cores' `SO_REUSEPORT` listeners), but its session lives on one. This
//! map is the one place that knows where: it is consulted under a lock at
//! CONNECT and when a session ends, never on the publish path, so the
//! lock is not contended by message traffic. A session on another core is
//! then moved over the mesh (`TakeSession` / `SessionMoved`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Client id -> owning core.
#[derive(Debug, Default)]
pub struct SessionDirectory {
    owners: Mutex<HashMap<Arc<str>, u16>>,
}

impl SessionDirectory {
    /// Makes `core` the owner of `client_id`; returns the previous owner.
    pub fn claim(&self, client_id: &Arc<str>, core: u16) -> Option<u16> {
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        owners.insert(client_id.clone(), core)
    }

    /// Forgets `client_id` if `core` still owns it (its session ended).
    pub fn release(&self, client_id: &str, core: u16) {
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        if owners.get(client_id) == Some(&core) {
            owners.remove(client_id);
        }
    }

    /// Sessions known node-wide.
    pub fn len(&self) -> usize {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no session is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_claim_owns_and_only_the_owner_releases() {
        let d = SessionDirectory::default();
        let c: Arc<str> = "dev-1".into();
        assert_eq!(d.claim(&c, 0), None);
        assert_eq!(d.claim(&c, 1), Some(0));
        d.release("dev-1", 0);
        assert_eq!(d.len(), 1);
        d.release("dev-1", 1);
        assert!(d.is_empty());
    }
}
