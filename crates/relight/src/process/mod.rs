//! The processes relight starts or becomes: the pools of spawned backends as the supervisor
//! runs them ([`pools`]), `relight spawn` ([`spawn_cmd`]), giving up root and the file system
//! after start-up ([`privileges`]), the listening sockets systemd hands over
//! ([`activation`]), what relight tells systemd of its state ([`notify`]) and replacing the
//! binary in place ([`upgrade`]). Spawning, reaping and supervising themselves are the `supervisor` crate's.

pub(crate) mod activation;
pub(crate) mod notify;
pub(crate) mod pools;
pub(crate) mod privileges;
pub mod spawn_cmd;
pub(crate) mod upgrade;
