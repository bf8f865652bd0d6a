//! The browser view in a real browser: headless Chromium driven through
//! chromedriver (WebDriver). Sign in, filter the list, open a scenario, run
//! it, open the report, compare two runs, download the workbook; and a
//! second team's token sees none of the first team's scenarios.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them); without them the test fails and says so. `BREAKEVEN_CHROMIUM`
//! and `BREAKEVEN_CHROMEDRIVER` name other binaries. With
//! `BREAKEVEN_SCREENSHOTS=DIR` the main pages are saved there as PNG files
//! (the README's screenshots come from `docs/images/`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pages::{PLATFORM, PagesServer, RESEARCH, scenario};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// A chromedriver process on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} not found: install Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver), or set {variable}",
        path.display()
    );
    path
}

async fn driver() -> Driver {
    let chromedriver = binary("BREAKEVEN_CHROMEDRIVER", "/usr/bin/chromedriver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    // Ready when it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    driver
}

async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let chromium = binary("BREAKEVEN_CHROMIUM", "/usr/bin/chromium");
    let profile = downloads.join("profile");
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            },
        },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Waits until the page's path starts with `prefix`; returns the path.
async fn wait_for_path(client: &Client, prefix: &str) -> String {
    let deadline = Instant::now()
        + Duration::from_secs(
            std::env::var("BREAKEVEN_BROWSER_WAIT_S")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(180),
        );
    loop {
        let path = client.current_url().await.unwrap().path().to_string();
        if path.starts_with(prefix) {
            return path;
        }
        if Instant::now() > deadline {
            let page = client.source().await.unwrap_or_default();
            let error = page
                .split_once("class=\"error\">")
                .map_or(page.as_str(), |(_, rest)| rest);
            panic!("still at {path}, waiting for {prefix}: {error}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Clicks the element with id `id`.
async fn click(client: &Client, id: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn sign_in(client: &Client, server: &PagesServer, token: &str) {
    client.goto(&server.url("/scenarios")).await.unwrap();
    assert_eq!(wait_for_path(client, "/signin").await, "/signin");
    client
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    click(client, "signin").await;
    wait_for_path(client, "/scenarios").await;
}

/// Runs the open scenario page's form as `kind` and waits for the report.
async fn run(client: &Client, kind: &str, paths: &str) -> String {
    client
        .find(Locator::Id("kind"))
        .await
        .unwrap()
        .select_by_value(kind)
        .await
        .unwrap();
    let field = client.find(Locator::Id("paths")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(paths).await.unwrap();
    click(client, "run").await;
    let path = wait_for_path(client, "/runs/").await;
    client
        .wait()
        .for_element(Locator::Id("to-scenario"))
        .await
        .unwrap();
    path.trim_start_matches("/runs/").to_string()
}

async fn screenshot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("BREAKEVEN_SCREENSHOTS") {
        let png = client.screenshot().await.unwrap();
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// Waits for a finished `.xlsx` file in `dir`.
async fn downloaded_workbook(dir: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "xlsx"));
        if let Some(path) = found {
            return path;
        }
        assert!(Instant::now() < deadline, "no workbook downloaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planner_signs_in_runs_compares_and_downloads_and_another_team_sees_nothing() {
    let server = PagesServer::start().await;
    server
        .save(RESEARCH, "Support bot", &["chat"], scenario(400_000.0))
        .await;
    let batch = server
        .save(RESEARCH, "Nightly batch", &["batch"], scenario(900_000.0))
        .await;
    server
        .save(PLATFORM, "Platform assistant", &[], scenario(50_000.0))
        .await;
    let downloads = std::env::temp_dir().join(format!(
        "breakeven-browser-{}-{}",
        std::process::id(),
        common::cli::unique()
    ));
    std::fs::create_dir_all(&downloads).unwrap();
    let driver = driver().await;
    let client = browser(&driver, &downloads).await;

    // Sign in: the team's scenarios, none of the other team's.
    sign_in(&client, &server, RESEARCH).await;
    let page = client.source().await.unwrap();
    assert!(page.contains("team research"));
    assert!(page.contains("Support bot") && page.contains("Nightly batch"));
    assert!(!page.contains("Platform assistant"));
    screenshot(&client, "browser-scenarios").await;

    // Filter the list by name.
    client
        .find(Locator::Id("filter-name"))
        .await
        .unwrap()
        .send_keys("nightly")
        .await
        .unwrap();
    click(&client, "filter").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.current_url().await.unwrap().query() != Some("name=nightly&tag=") {
        assert!(Instant::now() < deadline, "the filter was not applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(text(&client, "#count").await, "1 scenario match.");
    let listed = text(&client, "#scenarios").await;
    assert!(listed.contains("Nightly batch") && !listed.contains("Support bot"));

    // Open it and run a simulation, then a projection.
    client
        .find(Locator::LinkText("Nightly batch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&client, &format!("/scenarios/{}", batch.id)).await;
    assert_eq!(text(&client, "#scenario-name").await, "Nightly batch");
    screenshot(&client, "browser-scenario").await;
    let simulation = run(&client, "simulation", "2000").await;
    let title = client.title().await.unwrap();
    assert!(title.contains("breakeven report"), "{title}");
    assert!(
        client.source().await.unwrap().contains("<svg"),
        "charts drawn"
    );
    screenshot(&client, "browser-report").await;

    click(&client, "to-scenario").await;
    wait_for_path(&client, "/scenarios/").await;
    let projection = run(&client, "projection", "2000").await;
    assert_ne!(projection, simulation);

    // Compare the two: the newest (the projection) is the baseline.
    click(&client, "to-scenario").await;
    wait_for_path(&client, "/scenarios/").await;
    let others = client
        .find_all(Locator::Css("input[name=other]"))
        .await
        .unwrap();
    assert_eq!(others.len(), 2, "two runs listed");
    others[1].click().await.unwrap();
    click(&client, "compare").await;
    wait_for_path(&client, "/compare").await;
    let table = text(&client, "#comparison").await;
    assert!(
        table.contains(&projection) && table.contains(&simulation),
        "{table}"
    );
    screenshot(&client, "browser-compare").await;

    // Download the simulation's workbook and open it.
    client
        .goto(&server.url(&format!("/runs/{simulation}")))
        .await
        .unwrap();
    click(&client, "download-xlsx").await;
    let file = downloaded_workbook(&downloads).await;
    use calamine::Reader as _;
    let workbook: calamine::Xlsx<_> = calamine::open_workbook(&file).unwrap();
    let sheets = workbook.sheet_names();
    for sheet in ["Summary", "Monthly", "Simulation"] {
        assert!(sheets.iter().any(|s| s == sheet), "{sheets:?}");
    }

    // Another team: none of the first team's scenarios, and their pages
    // are not found.
    click(&client, "signout").await;
    wait_for_path(&client, "/signin").await;
    sign_in(&client, &server, PLATFORM).await;
    let page = client.source().await.unwrap();
    assert!(page.contains("Platform assistant"));
    assert!(!page.contains("Support bot") && !page.contains("Nightly batch"));
    client
        .goto(&server.url(&format!("/scenarios/{}", batch.id)))
        .await
        .unwrap();
    assert!(client.title().await.unwrap().starts_with("Not found"));
    client
        .goto(&server.url(&format!("/runs/{simulation}")))
        .await
        .unwrap();
    assert!(client.title().await.unwrap().starts_with("Not found"));

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&downloads);
}
