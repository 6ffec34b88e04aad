//! Connections on one core: each connection's state (`connection.rs`:
//! [`Conn`], its [`Phase`], its decoder [`Input`]) and the slots that hold
//! them, named by generational tokens (`table.rs`: [`ConnTable`]).

mod connection;
mod table;

pub use self::connection::{Conn, ConnLists, Input, Phase};
pub use self::table::ConnTable;
