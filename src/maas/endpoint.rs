//! The MAAS endpoint an operator pastes, normalised to the API base `…/MAAS/api/2.0/`.
//! Accepted: `http://maas:5240/MAAS`, `…/MAAS/`, `…/MAAS/api/2.0`, `…/MAAS/api/2.0/`, and a bare
//! `http://maas:5240` (MAAS always lives under `/MAAS/`). Userinfo in the URL is refused so a
//! password pasted into it can never be echoed back or logged.

use std::fmt;
use std::str::FromStr;
use url::Url;

/// A MAAS region's API base URL, always ending in `/api/2.0/`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    api_base: Url,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("the MAAS endpoint is empty: give the URL of the MAAS region, like http://maas.example:5240/MAAS")]
    Empty,
    #[error("`{given}` is not a URL ({reason}): give the URL of the MAAS region, like http://maas.example:5240/MAAS")]
    NotAUrl { given: String, reason: String },
    #[error("`{scheme}` is not a MAAS scheme: use http:// or https://, like http://maas.example:5240/MAAS")]
    BadScheme { scheme: String },
    #[error("the MAAS endpoint must not carry a user name or password; MAAS uses the API key instead (--api-key)")]
    HasCredentials,
    #[error("the MAAS endpoint must not carry a query string or fragment: give just the region URL, like http://maas.example:5240/MAAS")]
    HasQuery,
    #[error("`{path}` asks for MAAS API {version}; kubemaas speaks API 2.0: use the region URL, like http://maas.example:5240/MAAS")]
    WrongApiVersion { path: String, version: String },
    #[error("`{path}` is not where the MAAS API lives: give the region URL ending in /MAAS, like http://maas.example:5240/MAAS")]
    UnexpectedPath { path: String },
}

impl Endpoint {
    /// Parses and normalises what an operator pasted.
    pub fn parse(raw: &str) -> Result<Self, EndpointError> {
        let given = raw.trim();
        if given.is_empty() {
            return Err(EndpointError::Empty);
        }
        let mut url = Url::parse(given).map_err(|e| EndpointError::NotAUrl {
            given: given.to_string(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(EndpointError::BadScheme {
                    scheme: other.to_string(),
                })
            }
        }
        if url.host_str().is_none() {
            return Err(EndpointError::NotAUrl {
                given: given.to_string(),
                reason: "it has no host".into(),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::HasCredentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(EndpointError::HasQuery);
        }
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        let prefix = api_prefix(&segments, url.path())?;
        url.set_path(&format!("{prefix}api/2.0/"));
        Ok(Endpoint { api_base: url })
    }

    /// The API base, e.g. `http://maas:5240/MAAS/api/2.0/`.
    pub fn api_base(&self) -> &Url {
        &self.api_base
    }

    /// The region URL operators know, e.g. `http://maas:5240/MAAS/`.
    pub fn region_url(&self) -> Url {
        let mut url = self.api_base.clone();
        let path = url.path().trim_end_matches("api/2.0/").to_string();
        url.set_path(&path);
        url
    }

    /// The absolute URL of an API path relative to the base (`machines/`, `machines/abc/`).
    pub fn url_for(&self, path: &str) -> Url {
        self.api_base
            .join(path.trim_start_matches('/'))
            .expect("a relative API path joins onto an http(s) base")
    }

    /// The absolute URL of a `resource_uri` MAAS returned (`/MAAS/api/2.0/machines/abc/`).
    pub fn url_for_resource(&self, resource_uri: &str) -> Url {
        let mut url = self.api_base.clone();
        url.set_path(resource_uri);
        url
    }

    pub fn is_https(&self) -> bool {
        self.api_base.scheme() == "https"
    }
}

/// Works out the path prefix (ending in `/`) that comes before `api/2.0/`.
fn api_prefix(segments: &[String], path: &str) -> Result<String, EndpointError> {
    let join = |parts: &[String]| -> String {
        let mut s = String::from("/");
        for p in parts {
            s.push_str(p);
            s.push('/');
        }
        s
    };
    match segments {
        [] => Ok("/MAAS/".to_string()),
        [.., api, version] if api == "api" => {
            if version != "2.0" {
                return Err(EndpointError::WrongApiVersion {
                    path: path.to_string(),
                    version: version.clone(),
                });
            }
            Ok(join(&segments[..segments.len() - 2]))
        }
        [.., last] if last == "api" => Ok(join(&segments[..segments.len() - 1])),
        [.., last] if last.eq_ignore_ascii_case("MAAS") => Ok(join(segments)),
        _ => Err(EndpointError::UnexpectedPath {
            path: path.to_string(),
        }),
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.region_url().as_str())
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({})", self.api_base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_what_operators_paste() {
        for raw in [
            "http://maas:5240/MAAS",
            "http://maas:5240/MAAS/",
            "http://maas:5240/MAAS/api/2.0",
            "http://maas:5240/MAAS/api/2.0/",
            " http://maas:5240/MAAS/api/ ",
            "http://maas:5240",
            "http://maas:5240/",
        ] {
            let e = Endpoint::parse(raw).unwrap();
            assert_eq!(
                e.api_base().as_str(),
                "http://maas:5240/MAAS/api/2.0/",
                "{raw}"
            );
            assert_eq!(e.to_string(), "http://maas:5240/MAAS/");
        }
        let e = Endpoint::parse("https://10.0.0.1/maas-proxy/MAAS").unwrap();
        assert_eq!(
            e.api_base().as_str(),
            "https://10.0.0.1/maas-proxy/MAAS/api/2.0/"
        );
        assert!(e.is_https());
    }

    #[test]
    fn joins_paths_and_resource_uris() {
        let e = Endpoint::parse("http://127.0.0.1:5240/MAAS").unwrap();
        assert_eq!(
            e.url_for("machines/abc/").as_str(),
            "http://127.0.0.1:5240/MAAS/api/2.0/machines/abc/"
        );
        assert_eq!(
            e.url_for_resource("/MAAS/api/2.0/machines/x1/").as_str(),
            "http://127.0.0.1:5240/MAAS/api/2.0/machines/x1/"
        );
    }

    #[test]
    fn refuses_what_is_not_a_maas_endpoint() {
        assert_eq!(Endpoint::parse(""), Err(EndpointError::Empty));
        assert!(matches!(
            Endpoint::parse("maas:5240"),
            Err(EndpointError::BadScheme { .. })
        ));
        assert!(matches!(
            Endpoint::parse("not a url"),
            Err(EndpointError::NotAUrl { .. })
        ));
        assert!(matches!(
            Endpoint::parse("ftp://maas/MAAS"),
            Err(EndpointError::BadScheme { .. })
        ));
        assert_eq!(
            Endpoint::parse("http://admin:pw@maas/MAAS"),
            Err(EndpointError::HasCredentials)
        );
        assert!(matches!(
            Endpoint::parse("http://maas/MAAS/api/1.0/"),
            Err(EndpointError::WrongApiVersion { .. })
        ));
        assert!(matches!(
            Endpoint::parse("http://maas/something/else"),
            Err(EndpointError::UnexpectedPath { .. })
        ));
        assert_eq!(
            Endpoint::parse("http://maas/MAAS?x=1"),
            Err(EndpointError::HasQuery)
        );
    }
}
