//! Who-am-I, revocation, device sign-in and discovery, end to end through the
//! CLI: against the real server, and a scripted one for the providers' own
//! shapes (GitHub, Dropbox, Plane).

mod support;

use std::process::{Command, Stdio};

use serde_json::json;
use support::*;

/// The CLI in `self`, with the fake user as its browser unless `env` says otherwise.
impl Home {
    fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let browser = browser_program();
        let mut c = self.cmd(args, &[("BROWSER", browser.to_str().unwrap())]);
        c.envs(env.iter().copied());
        c
    }
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let o = self.cli(args, env).output().unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
    fn status(&self, service: &str) -> serde_json::Value {
        let (code, out, err) = self.run(&["status", "--json"], &[]);
        assert_eq!(code, 0, "{err}");
        let all: serde_json::Value = serde_json::from_str(&out).unwrap();
        service_entry(&all, service)
    }
}

fn acme_toml(server: &OidcServer, extra: &str) -> String {
    format!(
        "[acme]\noauth_authorize_url = \"{0}/auth\"\noauth_token_url = \"{0}/token\"\nclient_id = \"{1}\"\nscopes = [\"openid\", \"email\", \"profile\"]\nredirect_uri = \"http://127.0.0.1/callback\"\nissuer = \"{0}\"\nuserinfo_url = \"{0}/me\"\nrevocation_url = \"{0}/token/revocation\"\ndevice_authorization_url = \"{0}/device/auth\"\n{extra}",
        server.issuer(),
        PUBLIC_CLIENT
    )
}

#[test]
fn connect_shows_the_account_and_logout_revokes_at_the_provider() {
    let server = OidcServer::start();
    let h = Home::with_services(&acme_toml(&server, ""));
    let (code, out, err) = h.run(&["auth", "acme"], &[("TEST_LOGIN", "bob")]);
    assert_eq!(code, 0, "{out}{err}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.po().join("acme_token.json")).unwrap()).unwrap();
    assert_eq!(saved["account"]["login"], "bob@example.test", "{saved}");
    assert_eq!(saved["account"]["id"], "bob");

    let s = h.status("acme");
    assert_eq!(s["state"], "connected");
    assert_eq!(s["account"]["login"], "bob@example.test");
    let (_, table, _) = h.run(&["status"], &[]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("acme") && l.contains("bob@example.test")),
        "{table}"
    );

    let access = saved["access_token"].as_str().unwrap().to_string();
    let (code, out, err) = h.run(&["auth", "acme", "--logout"], &[]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Cleared saved acme token.\n"),
        "{err}"
    );
    assert!(err.contains("Revoked the token at acme."), "{err}");
    assert_eq!(server.stats()["revocation"], 1);
    assert!(!h.po().join("acme_token.json").exists());
    // Revoking the refresh token ended the grant: the access token is dead too.
    assert_eq!(server.me_status(&access), 401);
}

#[test]
fn a_token_the_provider_rejects_needs_reconnecting() {
    let server = OidcServer::shared();
    let h = Home::with_services(&acme_toml(server, ""));
    std::fs::write(
        h.po().join("acme_token.json"),
        json!({"access_token": "not-a-real-token", "refresh_token": null, "expires_at": 4e9, "client_id": PUBLIC_CLIENT, "client_secret": ""}).to_string(),
    )
    .unwrap();
    let s = h.status("acme");
    assert_eq!(s["state"], "needs_reconnect", "{s}");
    assert!(s["detail"].as_str().unwrap().contains("401"));
    let s = {
        let (_, out, _) = h.run(&["status", "--json", "--offline"], &[]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    // The provider's answer is kept in the token file, so every process
    // (and the app's cards) sees it without asking again.
    assert!(s
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["service"] == "acme" && x["state"] == "needs_reconnect"));
}

#[test]
fn logout_deletes_locally_even_when_revocation_fails() {
    let server = OidcServer::shared();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h = Home::with_services(&acme_toml(server, "").replace(
        &format!("revocation_url = \"{}/token/revocation\"", server.issuer()),
        &format!("revocation_url = \"http://127.0.0.1:{port}/revoke\""),
    ));
    std::fs::write(
        h.po().join("acme_token.json"),
        json!({"access_token": "a", "expires_at": 4e9, "client_id": "c"}).to_string(),
    )
    .unwrap();
    let (code, out, err) = h.run(&["auth", "acme", "--logout"], &[]);
    assert_eq!((code, out.as_str()), (0, "Cleared saved acme token.\n"));
    assert!(
        err.contains("Could not revoke") && err.contains("deleted anyway"),
        "{err}"
    );
    assert!(!h.po().join("acme_token.json").exists());
}

#[test]
fn device_sign_in_where_the_test_approves_the_code() {
    let server = OidcServer::shared();
    let h = Home::with_services(&acme_toml(server, ""));
    let child = h
        .cli(&["auth", "acme", "--device"], &[("BROWSER", "false")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (rest, out) = answer_device_code(child, "approve");
    let status = out.status;
    assert!(status.success(), "{rest:?}");
    assert_eq!(
        rest.last().unwrap(),
        "Acme authentication successful (device_code)."
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.po().join("acme_token.json")).unwrap()).unwrap();
    assert_eq!(saved["obtained_by"], "device_code");
    assert_eq!(saved["account"]["id"], "alice");
}

#[test]
fn a_denied_device_code_ends_with_the_providers_word() {
    let server = OidcServer::shared();
    let h = Home::with_services(&acme_toml(server, ""));
    let child = h
        .cli(&["auth", "acme", "--device"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, out) = answer_device_code(child, "deny");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("access_denied"), "{err}");
}

#[test]
fn a_custom_service_with_only_its_issuer_is_discovered_and_connects() {
    let server = OidcServer::shared();
    let h = Home::with_services(&format!(
        "[disco]\nissuer = \"{}\"\nclient_id = \"{}\"\nscopes = [\"openid\", \"email\"]\nredirect_uri = \"http://127.0.0.1/callback\"\n",
        server.issuer(),
        PUBLIC_CLIENT
    ));
    let (code, out, err) = h.run(&["auth", "disco"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("Disco authentication successful (oauth_pkce).\n"),
        "{out}"
    );
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.po().join("disco_metadata.json")).unwrap())
            .unwrap();
    assert_eq!(cached["metadata"]["token_endpoint"], server.url("/token"));
    // userinfo_url came from the metadata too.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.po().join("disco_token.json")).unwrap()).unwrap();
    assert_eq!(saved["account"]["id"], "alice");
}

#[test]
fn discovery_refuses_a_foreign_issuer_or_no_s256() {
    for (metadata, word) in [
        (
            json!({"issuer": "http://127.0.0.1:1", "authorization_endpoint": "http://x/a", "token_endpoint": "http://x/t", "code_challenge_methods_supported": ["S256"]}),
            "not the configured",
        ),
        (
            json!({"issuer": "ISSUER", "authorization_endpoint": "http://x/a", "token_endpoint": "http://x/t", "code_challenge_methods_supported": ["plain"]}),
            "S256",
        ),
    ] {
        let fake = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
        let f = fake.clone();
        let server = FakeServer::start(move |_| {
            let m = metadata.to_string().replace("ISSUER", f.get().unwrap());
            Reply::Text(200, "application/json".into(), m)
        });
        fake.set(server.url("")).unwrap();
        let h = Home::with_services(&format!(
            "[disco]\nissuer = \"{}\"\nclient_id = \"c\"\nredirect_uri = \"http://127.0.0.1/callback\"\n",
            server.url("")
        ));
        let (code, _, err) = h.run(&["auth", "disco"], &[]);
        assert_eq!(code, 1);
        assert!(err.contains(word), "{err}");
        assert!(!h.po().join("disco_metadata.json").exists());
    }
}

/// The providers' own shapes, on a scripted server.
#[test]
fn github_dropbox_and_plane_shapes() {
    let fake = FakeServer::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/user") => Reply::Json(
            200,
            json!({"id": 583231, "login": "octocat", "name": "The Octocat", "email": null}),
        ),
        ("DELETE", "/applications/gh-client/token") => {
            Reply::Text(204, "text/plain".into(), String::new())
        }
        ("POST", "/2/users/get_current_account") => Reply::Json(
            200,
            json!({"account_id": "dbid:1", "name": {"display_name": "Drop Person"}, "email": "d@example.test"}),
        ),
        ("POST", "/2/auth/token/revoke") => Reply::Json(200, json!(null)),
        ("GET", "/api/v1/users/me/") if req.header("x-api-key") == Some("plane_key") => {
            Reply::Json(
                200,
                json!({"id": "u1", "display_name": "planer", "email": "p@example.test"}),
            )
        }
        ("GET", "/api/v1/users/me/") => Reply::Json(401, json!({"detail": "no"})),
        ("GET", "/scoped") => Reply::Json(401, json!({}))
            .with_header("WWW-Authenticate", "Bearer error=\"insufficient_scope\""),
        _ => Reply::Json(404, json!({})),
    });
    let h = Home::with_services(&format!(
        "[github]\nuserinfo_url = \"{0}/user\"\nrevocation_url = \"{0}/applications/{{client_id}}/token\"\n[dropbox]\nuserinfo_url = \"{0}/2/users/get_current_account\"\nrevocation_url = \"{0}/2/auth/token/revoke\"\n[notion]\nuserinfo_url = \"{0}/scoped\"\n",
        fake.url("")
    ));
    for svc in ["github", "dropbox", "notion"] {
        std::fs::write(
            h.po().join(format!("{svc}_token.json")),
            json!({"access_token": format!("{svc}-access"), "refresh_token": null, "expires_at": 4e9, "client_id": "gh-client", "client_secret": "gh-secret"}).to_string(),
        )
        .unwrap();
    }
    let plane_base = fake.url("");
    let env = [
        ("PLANE_BASE_URL", plane_base.as_str()),
        ("PLANE_API_KEY", "plane_key"),
    ];
    let (_, out, err) = h.run(&["status", "--json"], &env);
    let all: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    let get = |s: &str| service_entry(&all, s);
    assert_eq!(
        get("github")["account"],
        json!({"id": "583231", "name": "The Octocat", "login": "octocat"})
    );
    assert_eq!(get("dropbox")["account"]["name"], "Drop Person");
    assert_eq!(get("plane")["account"]["login"], "p@example.test");
    assert_eq!(get("plane")["method"], "api_key");
    // A token without the identity scope is still a working connection.
    assert_eq!(get("notion")["state"], "connected");
    assert!(get("notion")["account"].is_null());

    let reqs = fake.requests();
    let gh = reqs.iter().find(|r| r.path == "/user").unwrap();
    assert_eq!(gh.header("authorization"), Some("Bearer github-access"));
    let dbx = reqs
        .iter()
        .find(|r| r.path == "/2/users/get_current_account")
        .unwrap();
    assert_eq!(dbx.body, "", "Dropbox's identity call has no body");
    assert!(dbx.header("content-type").is_none());

    for svc in ["github", "dropbox"] {
        let (code, out, err) = h.run(&["auth", svc, "--logout"], &env);
        assert_eq!(code, 0);
        assert_eq!(out, format!("Cleared saved {svc} token.\n"));
        assert!(
            err.contains(&format!("Revoked the token at {svc}.")),
            "{err}"
        );
    }
    let reqs = fake.requests();
    let del = reqs.iter().find(|r| r.method == "DELETE").unwrap();
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("gh-client:gh-secret");
    assert_eq!(
        del.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&del.body).unwrap(),
        json!({"access_token": "github-access"})
    );
    let rev = reqs
        .iter()
        .find(|r| r.path == "/2/auth/token/revoke")
        .unwrap();
    assert_eq!(rev.header("authorization"), Some("Bearer dropbox-access"));
}
