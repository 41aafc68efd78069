//! PlanOpticon Auth: connects a person's cloud accounts and keeps the
//! connections alive.
//!
//! The chain ([`OAuthManager::authenticate`]): saved token (refreshed when
//! expired) -> server-to-server -> authorization code with PKCE -> API key.
//! Tokens live in `~/.planopticon/{service}_token.json`, readable by the
//! Python tool of the same name, optionally mirrored into the OS keyring.

pub mod account;
pub mod cli;
pub mod config;
pub mod discovery;
pub mod error;
pub mod flow;
pub mod manager;
pub mod network;
pub mod redirect;
pub mod services;
pub mod status;
pub mod store;

pub use config::{AuthConfig, Settings};
pub use error::{Error, Result};
pub use manager::{AuthOptions, AuthResult, Interaction, Method, OAuthManager};
pub use redirect::{Control, RedirectMode};
pub use services::Registry;
pub use status::{ServiceStatus, State};
