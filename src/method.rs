//! How a token was obtained and which step of the chain obtains it: the
//! vocabulary of the token file's `obtained_by`, the chain's result, the
//! status of a connection and the errors (below the chain, which re-exports
//! [`Step`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A step of the chain; also what a person can ask for alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Saved,
    Server,
    Browser,
    Device,
    ApiKey,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Self::Saved,
        Self::Server,
        Self::Browser,
        Self::Device,
        Self::ApiKey,
    ];

    /// `saved`, `server`, `browser`, `device`, `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saved => "saved",
            Self::Server => "server",
            Self::Browser => "browser",
            Self::Device => "device",
            Self::ApiKey => "api_key",
        }
    }

    /// The step in plain words.
    pub fn name(self) -> &'static str {
        match self {
            Self::Saved => "saved token",
            Self::Server => "server-to-server",
            Self::Browser => "browser sign-in (OAuth PKCE)",
            Self::Device => "device sign-in",
            Self::ApiKey => "API key",
        }
    }

    /// How a token this step yields is reported.
    pub fn method(self) -> Method {
        match self {
            Self::Saved => Method::SavedToken,
            Self::Server => Method::ClientCredentials,
            Self::Browser => Method::OauthPkce,
            Self::Device => Method::DeviceCode,
            Self::ApiKey => Method::ApiKey,
        }
    }
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("{s:?}: use saved, server, browser, device or api_key"))
    }
}

/// How a token was obtained. The strings are the Python tool's (`saved_token`,
/// `client_credentials`, `oauth_pkce`, `api_key`) plus ours (`device_code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    SavedToken,
    ClientCredentials,
    OauthPkce,
    ApiKey,
    DeviceCode,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Self::SavedToken,
        Self::ClientCredentials,
        Self::OauthPkce,
        Self::ApiKey,
        Self::DeviceCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SavedToken => "saved_token",
            Self::ClientCredentials => "client_credentials",
            Self::OauthPkce => "oauth_pkce",
            Self::ApiKey => "api_key",
            Self::DeviceCode => "device_code",
        }
    }

    /// Whether the token can be revoked or refreshed at a provider: an API
    /// key from the environment is not ours to end.
    pub fn is_api_key(self) -> bool {
        self == Self::ApiKey
    }
}

impl std::str::FromStr for Method {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|m| m.as_str() == s).ok_or(())
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A token file's `obtained_by`: one of ours, or whatever string another
/// tool wrote there, kept as it is (a file is never refused for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObtainedBy {
    Known(Method),
    Other(String),
}

impl ObtainedBy {
    pub fn method(&self) -> Option<Method> {
        match self {
            Self::Known(m) => Some(*m),
            Self::Other(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(m) => m.as_str(),
            Self::Other(s) => s,
        }
    }

    pub fn is_api_key(&self) -> bool {
        self.method().is_some_and(Method::is_api_key)
    }
}

impl From<Method> for ObtainedBy {
    fn from(m: Method) -> Self {
        Self::Known(m)
    }
}

impl From<&str> for ObtainedBy {
    fn from(s: &str) -> Self {
        match s.parse() {
            Ok(m) => Self::Known(m),
            Err(()) => Self::Other(s.to_string()),
        }
    }
}

impl Serialize for ObtainedBy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ObtainedBy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_unknown_ones_are_kept() {
        for m in Method::ALL {
            let o: ObtainedBy = serde_json::from_str(&format!("\"{m}\"")).unwrap();
            assert_eq!(o, ObtainedBy::Known(m));
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{m}\""));
        }
        let o: ObtainedBy = serde_json::from_str("\"magic_link\"").unwrap();
        assert_eq!(o, ObtainedBy::Other("magic_link".into()));
        assert_eq!(o.method(), None);
        assert_eq!(serde_json::to_string(&o).unwrap(), "\"magic_link\"");
        assert!(ObtainedBy::Known(Method::ApiKey).is_api_key());
    }
}
