//! The browser view over plain HTTP: sign-in, teams, and every bad input
//! answered with its HTTP status and nothing changed. The same pages in a
//! real browser are in `browser.rs`.

mod common;

use common::pages::{PLATFORM, PagesServer, RESEARCH, request, scenario, sign_in};
use tonic::codegen::http::StatusCode;

#[tokio::test]
async fn without_a_session_every_page_asks_to_sign_in() {
    let server = PagesServer::start().await;
    for path in ["/scenarios", "/runs/run_0000000000000000", "/compare"] {
        let answer = request("GET", &server.url(path), "", None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.location(), "/signin", "{path}");
    }
    let form = request("GET", &server.url("/signin"), "", None).await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.cookie("breakeven_csrf").unwrap();
    assert!(form.body.contains(&csrf), "the form carries its token");
    let cookie = form
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS, no Secure: {cookie}");
    let csp = form.headers.get("content-security-policy").unwrap();
    assert!(csp.to_str().unwrap().starts_with("default-src 'none'"));

    // A wrong token is refused, and sets no session.
    let refused = request(
        "POST",
        &server.url("/signin"),
        &format!("breakeven_csrf={csrf}"),
        Some(&format!("csrf={csrf}&token=not-a-token-at-all")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.cookie("breakeven_session").is_none());
}

#[tokio::test]
async fn a_tampered_session_cookie_signs_out() {
    let server = PagesServer::start().await;
    let cookies = sign_in(&server, RESEARCH).await;
    let ok = request("GET", &server.url("/scenarios"), &cookies, None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.contains("team research"), "{}", ok.body);
    // Flip the last hex digit of the session.
    let mut tampered = cookies.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let answer = request("GET", &server.url("/scenarios"), &tampered, None).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/signin");
    assert_eq!(answer.cookie("breakeven_session").as_deref(), Some(""));
}

#[tokio::test]
async fn teams_see_only_their_own_and_bad_requests_change_nothing() {
    let server = PagesServer::start().await;
    let saved = server
        .save(RESEARCH, "research bot", &["q3"], scenario(400_000.0))
        .await;
    let run = server.run(RESEARCH, &saved.id).await;
    let research = sign_in(&server, RESEARCH).await;
    let platform = sign_in(&server, PLATFORM).await;

    let list = request("GET", &server.url("/scenarios"), &research, None).await;
    assert!(list.body.contains("research bot"));
    let list = request("GET", &server.url("/scenarios"), &platform, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains("research bot"), "{}", list.body);
    assert!(list.body.contains("0 scenarios match"), "{}", list.body);

    let cases = [
        // Another team's scenario, run, downloads and comparison: not
        // found, exactly as unknown ids.
        (
            &platform,
            format!("/scenarios/{}", saved.id),
            StatusCode::NOT_FOUND,
        ),
        (
            &platform,
            format!("/scenarios/{}/scenario.toml", saved.id),
            StatusCode::NOT_FOUND,
        ),
        (
            &platform,
            format!("/runs/{}", run.id),
            StatusCode::NOT_FOUND,
        ),
        (
            &platform,
            format!("/runs/{}/workbook.xlsx", run.id),
            StatusCode::NOT_FOUND,
        ),
        (
            &platform,
            format!("/runs/{}/export.csv", run.id),
            StatusCode::NOT_FOUND,
        ),
        (
            &research,
            "/runs/run_0123456789abcdef".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            &research,
            "/scenarios/scn_0123456789abcdef".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            &research,
            "/tasks/task_0123456789abcdef".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            &platform,
            format!("/compare?baseline={}&other={}", run.id, run.id),
            StatusCode::BAD_REQUEST,
        ),
        (
            &research,
            format!("/compare?baseline={}&other=run_0123456789abcdef", run.id),
            StatusCode::NOT_FOUND,
        ),
        // Pages that do not exist, and numbers that are not page numbers.
        (&research, "/scenarios?page=2".into(), StatusCode::NOT_FOUND),
        (
            &research,
            "/scenarios?page=18446744073709551615".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            &research,
            "/scenarios?page=99999999999999999999999".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &research,
            "/scenarios?page=0".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &research,
            "/scenarios?page=-1".into(),
            StatusCode::BAD_REQUEST,
        ),
        // Another team's listing asked for by name.
        (
            &research,
            "/scenarios?team=platform".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &research,
            format!("/runs/{}/export.csv?table=nope", run.id),
            StatusCode::BAD_REQUEST,
        ),
        (&research, "/no/such/page".into(), StatusCode::NOT_FOUND),
    ];
    for (cookies, path, status) in cases {
        let answer = request("GET", &server.url(&path), cookies, None).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(
            !answer.body.contains("research bot"),
            "{path} leaks the name"
        );
    }

    // The one form that acts: refused without its token, with another
    // token, from another origin, or for another team's scenario.
    let csrf = research
        .split("; ")
        .find_map(|c| c.strip_prefix("breakeven_csrf="))
        .unwrap()
        .to_string();
    let run_path = format!("/scenarios/{}/run", saved.id);
    let posts = [
        (
            &research,
            "kind=projection".to_string(),
            StatusCode::FORBIDDEN,
        ),
        (
            &research,
            format!("kind=projection&csrf={}", "0".repeat(64)),
            StatusCode::FORBIDDEN,
        ),
        (
            &research,
            format!("kind=monte&csrf={csrf}"),
            StatusCode::BAD_REQUEST,
        ),
        (
            &research,
            format!("kind=simulation&paths=ten&seed=1&csrf={csrf}"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (cookies, form, status) in posts {
        let answer = request("POST", &server.url(&run_path), cookies, Some(&form)).await;
        assert_eq!(answer.status, status, "{form}: {}", answer.body);
    }
    // Another team's scenario: the run fails as not found.
    let platform_csrf = platform
        .split("; ")
        .find_map(|c| c.strip_prefix("breakeven_csrf="))
        .unwrap()
        .to_string();
    let started = request(
        "POST",
        &server.url(&run_path),
        &platform,
        Some(&format!("kind=projection&csrf={platform_csrf}")),
    )
    .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let task = started.location().to_string();
    let mut answer = request("GET", &server.url(&task), &platform, None).await;
    while answer.status == StatusCode::OK {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        answer = request("GET", &server.url(&task), &platform, None).await;
    }
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    // The research team cannot follow the platform team's task either.
    let theirs = request("GET", &server.url(&task), &research, None).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    // Nothing was run or kept by any of it.
    assert_eq!(server.run_count(RESEARCH).await, 1);
    assert_eq!(server.run_count(PLATFORM).await, 0);

    // A post from another site is refused even with the right token.
    let client_answer = {
        use http_body_util::Full;
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;
        use tonic::codegen::Bytes;
        use tonic::codegen::http;
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = http::Request::post(server.url(&run_path))
            .header("cookie", &research)
            .header("origin", "https://planner.example.com")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(format!(
                "kind=projection&csrf={csrf}"
            ))))
            .unwrap();
        client.request(request).await.unwrap().status()
    };
    assert_eq!(client_answer, StatusCode::FORBIDDEN);
    assert_eq!(server.run_count(RESEARCH).await, 1);
}

/// A saved scenario's file downloads as TOML that reads back as the same
/// scenario, and a run's downloads are the API's exports.
#[tokio::test]
async fn downloads_are_the_apis_files() {
    let server = PagesServer::start().await;
    let saved = server
        .save(RESEARCH, "research bot", &[], scenario(400_000.0))
        .await;
    let run = server.run(RESEARCH, &saved.id).await;
    let research = sign_in(&server, RESEARCH).await;
    let toml = request(
        "GET",
        &server.url(&format!("/scenarios/{}/scenario.toml", saved.id)),
        &research,
        None,
    )
    .await;
    assert_eq!(toml.status, StatusCode::OK);
    let read = breakeven::tco::Scenario::from_toml(&toml.body).unwrap();
    let expected = breakeven::grpc::domain_scenario(saved.scenario.as_ref()).unwrap();
    assert_eq!(read, expected);
    let csv = request(
        "GET",
        &server.url(&format!("/runs/{}/export.csv?table=months", run.id)),
        &research,
        None,
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.body.lines().count(), 25, "a header and 24 months");
    assert!(
        csv.headers
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
}

/// A scenario's page lists its revisions with what each changed, by field.
#[tokio::test]
async fn revisions_show_what_changed() {
    use breakeven::grpc::pb;
    use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
    let server = PagesServer::start().await;
    let saved = server
        .save(RESEARCH, "research bot", &["q3"], scenario(400_000.0))
        .await;
    ScenarioServiceClient::new(server.grpc.channel().await)
        .update_scenario(common::pages::authed(
            RESEARCH,
            pb::UpdateScenarioRequest {
                id: saved.id.clone(),
                name: "research bot".into(),
                tags: vec!["q3".into(), "growth".into()],
                scenario: Some(scenario(650_000.0)),
                etag: saved.etag.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let research = sign_in(&server, RESEARCH).await;
    let page = request(
        "GET",
        &server.url(&format!("/scenarios/{}", saved.id)),
        &research,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let changes = page
        .body
        .split_once("id=\"revision-2\"")
        .unwrap()
        .1
        .split_once("id=\"revision-1\"")
        .unwrap()
        .0;
    for expected in [
        "workload.requests_per_day",
        "400000.0",
        "650000.0",
        "tags",
        "q3, growth",
    ] {
        assert!(changes.contains(expected), "{expected} in {changes}");
    }
}
