//! ScenarioService through the generated client, against a real server
//! backed by a temporary SQLite file.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use breakeven::catalog::{Catalog, LiveCatalog};
use breakeven::grpc::ScenarioApi;
use breakeven::grpc::pb;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use breakeven::grpc::pb::scenario_service_server::ScenarioServiceServer;
use breakeven::store::{ScenarioFields, SqliteOptions, Store};
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// A database file of its own under the temp dir; removed, with its WAL
/// and shared-memory files, when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(test: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self(std::env::temp_dir().join(format!(
            "breakeven-test-{test}-{}-{nanos}.db",
            std::process::id()
        )))
    }

    /// SQLite's own consistency check of the whole file.
    fn assert_intact(&self) {
        let conn = rusqlite::Connection::open(&self.0).unwrap();
        let verdict: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(verdict, "ok");
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// A ScenarioService on an ephemeral port over the store at a path.
struct Server {
    addr: SocketAddr,
    store: Store,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(path: &Path) -> Self {
        Self::start_with(path, SqliteOptions::default()).await
    }

    /// The listener is bound before the server task starts, so clients can
    /// connect at once.
    async fn start_with(path: &Path, options: SqliteOptions) -> Self {
        let store = Store::open_sqlite(path, options)
            .await
            .expect("store opens");
        let catalog = Arc::new(LiveCatalog::new(
            Catalog::embedded().expect("built-in catalogue loads"),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let service = ScenarioServiceServer::new(ScenarioApi::new(store.clone(), catalog));
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        Self {
            addr,
            store,
            stop,
            task,
        }
    }

    async fn client(&self) -> ScenarioServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .expect("valid uri")
            .connect()
            .await
            .expect("connect");
        ScenarioServiceClient::new(channel)
    }

    /// Stops serving and lets go of the store.
    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task ends");
    }
}

/// 100,000 requests a day, GPT-4o mini against Llama 3.1 8B on rented
/// H100s, over `months` months.
fn scenario(months: u32) -> pb::Scenario {
    pb::Scenario {
        name: "chatbot".into(),
        horizon_months: months,
        start_month: "2025-06".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 100_000.0,
            input_tokens: 1000.0,
            output_tokens: 200.0,
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o-mini".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-8b".into(),
            gpu_id: "h100-sxm".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn create_request(name: &str, months: u32) -> pb::CreateScenarioRequest {
    pb::CreateScenarioRequest {
        name: name.into(),
        team: "platform".into(),
        tags: vec!["chat".into(), "q3".into()],
        description: "support bot".into(),
        scenario: Some(scenario(months)),
    }
}

fn update_request(saved: &pb::SavedScenario, months: u32) -> pb::UpdateScenarioRequest {
    pb::UpdateScenarioRequest {
        id: saved.id.clone(),
        name: saved.name.clone(),
        team: saved.team.clone(),
        tags: saved.tags.clone(),
        description: saved.description.clone(),
        scenario: Some(scenario(months)),
        etag: saved.etag.clone(),
        expected_revision: 0,
    }
}

/// The fields an INVALID_ARGUMENT status names.
fn bad_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .expect("bad request details")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

#[tokio::test]
async fn a_scenario_is_created_read_listed_updated_and_deleted() {
    let db = TempDb::new("crud");
    let server = Server::start(&db.0).await;
    let mut client = server.client().await;

    let created = client
        .create_scenario(create_request("Support bot", 12))
        .await
        .unwrap()
        .into_inner();
    assert!(created.id.starts_with("scn_") && created.id.len() == 20);
    assert_eq!(created.revision, 1);
    assert_eq!(created.tags, ["chat", "q3"]);
    assert_eq!(created.scenario, Some(scenario(12)));
    assert!(
        created.create_time.ends_with('Z'),
        "{}",
        created.create_time
    );
    assert_eq!(created.create_time, created.update_time);
    assert!(created.last_run_time.is_empty());
    assert!(!created.etag.is_empty());

    let read = client
        .get_scenario(pb::GetScenarioRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);

    let listed = client
        .list_scenarios(pb::ListScenariosRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.scenarios, std::slice::from_ref(&created));
    assert_eq!(listed.total_size, 1);
    assert!(listed.next_page_token.is_empty());

    let mut edit = update_request(&created, 24);
    edit.name = "Support bot, two years".into();
    edit.tags = vec!["chat".into()];
    let updated = client.update_scenario(edit).await.unwrap().into_inner();
    assert_eq!(updated.revision, 2);
    assert_eq!(updated.name, "Support bot, two years");
    assert_eq!(updated.tags, ["chat"]);
    assert_eq!(updated.create_time, created.create_time);
    assert_ne!(updated.etag, created.etag);
    assert_eq!(updated.scenario.unwrap().horizon_months, 24);

    client
        .delete_scenario(pb::DeleteScenarioRequest {
            id: created.id.clone(),
            etag: updated.etag.clone(),
        })
        .await
        .unwrap();
    let gone = client
        .get_scenario(pb::GetScenarioRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let listed = client
        .list_scenarios(pb::ListScenariosRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.scenarios.is_empty() && listed.total_size == 0);

    drop(client);
    server.shutdown().await;
    db.assert_intact();
}

#[tokio::test]
async fn every_update_keeps_the_previous_revision() {
    let db = TempDb::new("revisions");
    let server = Server::start(&db.0).await;
    let mut client = server.client().await;
    let first = client
        .create_scenario(create_request("history", 12))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .update_scenario(update_request(&first, 24))
        .await
        .unwrap()
        .into_inner();
    let mut edit = update_request(&second, 36);
    edit.description = "three years".into();
    client.update_scenario(edit).await.unwrap();

    let revisions = client
        .list_scenario_revisions(pb::ListScenarioRevisionsRequest {
            id: first.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revisions.total_size, 3);
    let seen: Vec<_> = revisions
        .revisions
        .iter()
        .map(|r| {
            (
                r.revision,
                r.scenario.as_ref().unwrap().horizon_months,
                r.description.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (3, 36, "three years"),
            (2, 24, "support bot"),
            (1, 12, "support bot")
        ]
    );
    assert!(revisions.revisions.iter().all(|r| r.id == first.id));
    assert_eq!(revisions.revisions[2].scenario, Some(scenario(12)));
    assert_eq!(revisions.revisions[2].create_time, first.create_time);

    // One revision per page, newest first, each exactly once.
    let mut token = String::new();
    let mut numbers = Vec::new();
    loop {
        let page = client
            .list_scenario_revisions(pb::ListScenarioRevisionsRequest {
                id: first.id.clone(),
                page_size: 1,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        numbers.extend(page.revisions.iter().map(|r| r.revision));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(numbers, [3, 2, 1]);

    drop(client);
    server.shutdown().await;
    db.assert_intact();
}

#[tokio::test]
async fn an_edit_based_on_a_stale_read_is_aborted() {
    let db = TempDb::new("etag");
    let server = Server::start(&db.0).await;
    let mut alice = server.client().await;
    let mut bob = server.client().await;
    let read = alice
        .create_scenario(create_request("shared", 12))
        .await
        .unwrap()
        .into_inner();

    // Alice saves first; Bob's edit of the same revision must not win.
    alice
        .update_scenario(update_request(&read, 24))
        .await
        .unwrap();
    let stale = bob
        .update_scenario(update_request(&read, 36))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    assert!(stale.message().contains("read it again"), "{stale:?}");

    let mut by_revision = update_request(&read, 36);
    by_revision.etag.clear();
    by_revision.expected_revision = 1;
    let stale = bob.update_scenario(by_revision).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    let stale = bob
        .delete_scenario(pb::DeleteScenarioRequest {
            id: read.id.clone(),
            etag: read.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    let now = bob
        .get_scenario(pb::GetScenarioRequest {
            id: read.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.revision, 2);
    assert_eq!(now.scenario.unwrap().horizon_months, 24);

    drop((alice, bob));
    server.shutdown().await;
    db.assert_intact();
}

/// Saves `count` scenarios straight through the store: names
/// `scenario-0000`…, teams `team-0`…`team-3` by index mod 4, tag `even` or
/// `odd`, and `every-third` on indexes divisible by 3.
async fn seed(store: &Store, count: usize) {
    let body = scenario(12).encode_to_vec();
    for i in 0..count {
        let mut tags = vec![if i % 2 == 0 { "even" } else { "odd" }.to_string()];
        if i % 3 == 0 {
            tags.push("every-third".into());
        }
        store
            .create(ScenarioFields {
                name: format!("scenario-{i:04}"),
                team: format!("team-{}", i % 4),
                tags,
                description: String::new(),
                body: body.clone(),
            })
            .await
            .unwrap();
    }
}

/// Every page of a listing, following tokens; the ids in order.
async fn all_pages(
    client: &mut ScenarioServiceClient<Channel>,
    request: pb::ListScenariosRequest,
) -> Vec<pb::SavedScenario> {
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_scenarios(pb::ListScenariosRequest {
                page_token: token,
                ..request.clone()
            })
            .await
            .unwrap()
            .into_inner();
        let size = match request.page_size {
            0 => 50,
            n => n as usize,
        };
        assert!(page.scenarios.len() <= size);
        seen.extend(page.scenarios);
        if page.next_page_token.is_empty() {
            assert_eq!(page.total_size as usize, seen.len());
            return seen;
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn filters_and_pages_visit_every_match_exactly_once() {
    let db = TempDb::new("pages");
    let server = Server::start(&db.0).await;
    seed(&server.store, 2000).await;
    let mut client = server.client().await;

    let check = async |client: &mut ScenarioServiceClient<Channel>,
                       request: pb::ListScenariosRequest,
                       wanted: &dyn Fn(usize) -> bool| {
        let expected: HashSet<String> = (0..2000)
            .filter(|&i| wanted(i))
            .map(|i| format!("scenario-{i:04}"))
            .collect();
        let seen = all_pages(client, request.clone()).await;
        let names: HashSet<String> = seen.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names.len(), seen.len(), "an entry repeated for {request:?}");
        assert_eq!(names, expected, "{request:?}");
    };
    let list = |page_size: i32| pb::ListScenariosRequest {
        page_size,
        ..Default::default()
    };

    check(&mut client, list(137), &|_| true).await;
    check(&mut client, list(500), &|_| true).await;
    check(
        &mut client,
        pb::ListScenariosRequest {
            name_contains: "-01".into(),
            ..list(7)
        },
        &|i| (100..200).contains(&i),
    )
    .await;
    check(
        &mut client,
        pb::ListScenariosRequest {
            // Case-insensitive, and the wildcard is taken literally.
            name_contains: "Scenario-1_".into(),
            ..list(50)
        },
        &|_| false,
    )
    .await;
    check(
        &mut client,
        pb::ListScenariosRequest {
            tag: "every-third".into(),
            ..list(64)
        },
        &|i| i % 3 == 0,
    )
    .await;
    check(
        &mut client,
        pb::ListScenariosRequest {
            team: "team-1".into(),
            ..list(100)
        },
        &|i| i % 4 == 1,
    )
    .await;
    check(
        &mut client,
        pb::ListScenariosRequest {
            tag: "odd".into(),
            team: "team-2".into(),
            ..list(10)
        },
        &|_| false,
    )
    .await;
    check(
        &mut client,
        pb::ListScenariosRequest {
            name_contains: "scenario-19".into(),
            tag: "even".into(),
            team: "team-2".into(),
            ..list(3)
        },
        &|i| (1900..2000).contains(&i) && i % 4 == 2,
    )
    .await;
    check(
        &mut client,
        pb::ListScenariosRequest {
            created_after: "2000-01-01T00:00:00Z".into(),
            created_before: "2999-01-01T00:00:00+02:00".into(),
            ..list(400)
        },
        &|_| true,
    )
    .await;
    check(
        &mut client,
        pb::ListScenariosRequest {
            created_before: "2000-01-01T00:00:00Z".into(),
            ..list(400)
        },
        &|_| false,
    )
    .await;

    drop(client);
    server.shutdown().await;
    db.assert_intact();
}

#[tokio::test]
async fn creation_time_bounds_are_exclusive() {
    let db = TempDb::new("created");
    let server = Server::start(&db.0).await;
    let mut client = server.client().await;
    let first = client
        .create_scenario(create_request("first", 12))
        .await
        .unwrap()
        .into_inner();
    client
        .create_scenario(create_request("second", 12))
        .await
        .unwrap();
    let names = async |client: &mut ScenarioServiceClient<Channel>, after: &str, before: &str| {
        let request = pb::ListScenariosRequest {
            created_after: after.into(),
            created_before: before.into(),
            ..Default::default()
        };
        all_pages(client, request)
            .await
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
    };
    assert!(
        !names(&mut client, &first.create_time, "")
            .await
            .contains(&"first".to_string())
    );
    assert!(names(&mut client, "", &first.create_time).await.is_empty());
    assert_eq!(
        names(&mut client, "2020-01-01T00:00:00Z", "").await,
        ["first", "second"]
    );

    drop(client);
    server.shutdown().await;
    db.assert_intact();
}

#[tokio::test]
async fn listings_follow_order_by() {
    let db = TempDb::new("order");
    let server = Server::start(&db.0).await;
    let mut client = server.client().await;
    let mut ids = Vec::new();
    for name in ["delta", "alpha", "charlie", "bravo", "echo"] {
        let saved = client
            .create_scenario(create_request(name, 12))
            .await
            .unwrap()
            .into_inner();
        ids.push((name, saved.id));
    }
    // Two of them ran: charlie, then alpha.
    server.store.record_run(&ids[2].1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await; // distinct run times
    server.store.record_run(&ids[1].1).await.unwrap();

    let names = async |client: &mut ScenarioServiceClient<Channel>, order_by: &str| {
        let request = pb::ListScenariosRequest {
            order_by: order_by.into(),
            page_size: 2,
            ..Default::default()
        };
        all_pages(client, request)
            .await
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&mut client, "name").await,
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(
        names(&mut client, "name desc").await,
        ["echo", "delta", "charlie", "bravo", "alpha"]
    );
    assert_eq!(
        names(&mut client, "").await,
        names(&mut client, "create_time").await
    );
    let by_run = names(&mut client, "last_run_time desc").await;
    assert_eq!(by_run[..2], ["alpha", "charlie"]);
    let ran = client
        .get_scenario(pb::GetScenarioRequest {
            id: ids[1].1.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ran.last_run_time.ends_with('Z'), "{}", ran.last_run_time);
    assert_eq!(ran.revision, 1, "a run is not a revision");

    drop(client);
    server.shutdown().await;
    db.assert_intact();
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let db = TempDb::new("unknown");
    let server = Server::start(&db.0).await;
    let mut client = server.client().await;
    let id = "scn_0000000000000000".to_string();
    let mut update = update_request(
        &pb::SavedScenario {
            id: id.clone(),
            name: "x".into(),
            ..Default::default()
        },
        12,
    );
    update.etag.clear();
    let codes = [
        client
            .get_scenario(pb::GetScenarioRequest { id: id.clone() })
            .await
            .unwrap_err(),
        client.update_scenario(update).await.unwrap_err(),
        client
            .delete_scenario(pb::DeleteScenarioRequest {
                id: id.clone(),
                etag: String::new(),
            })
            .await
            .unwrap_err(),
        client
            .list_scenario_revisions(pb::ListScenarioRevisionsRequest {
                id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ];
    for status in codes {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(status.message().contains(&id), "{status:?}");
    }
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_name_the_offending_field() {
    let db = TempDb::new("invalid");
    let server = Server::start(&db.0).await;
    seed(&server.store, 5).await;
    let mut client = server.client().await;

    let first_page = client
        .list_scenarios(pb::ListScenariosRequest {
            tag: "even".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!first_page.next_page_token.is_empty());

    let lists = [
        (
            pb::ListScenariosRequest {
                order_by: "size".into(),
                ..Default::default()
            },
            "order_by",
        ),
        (
            pb::ListScenariosRequest {
                order_by: "name sideways".into(),
                ..Default::default()
            },
            "order_by",
        ),
        (
            pb::ListScenariosRequest {
                created_after: "yesterday".into(),
                ..Default::default()
            },
            "created_after",
        ),
        (
            pb::ListScenariosRequest {
                created_before: "2025-13-01".into(),
                ..Default::default()
            },
            "created_before",
        ),
        (
            pb::ListScenariosRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            pb::ListScenariosRequest {
                page_token: "not-a-token".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            // The token of a listing by tag, reused with another tag.
            pb::ListScenariosRequest {
                tag: "odd".into(),
                page_size: 1,
                page_token: first_page.next_page_token.clone(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            pb::ListScenariosRequest {
                tag: "even".into(),
                page_size: 1,
                order_by: "name".into(),
                page_token: first_page.next_page_token.clone(),
                ..Default::default()
            },
            "page_token",
        ),
    ];
    for (request, field) in lists {
        let status = client.list_scenarios(request.clone()).await.unwrap_err();
        assert_eq!(bad_fields(&status), [field], "{request:?}");
    }

    let mut bad_scenario = create_request("bad", 0);
    bad_scenario.scenario.as_mut().unwrap().api = Some(pb::ApiOption {
        price_id: "no-such-price".into(),
        ..Default::default()
    });
    let creates = [
        (
            bad_scenario,
            vec!["scenario.horizon_months", "scenario.api.price_id"],
        ),
        (
            pb::CreateScenarioRequest {
                scenario: None,
                ..create_request("no body", 12)
            },
            vec!["scenario"],
        ),
        (
            pb::CreateScenarioRequest {
                scenario: Some(pb::Scenario {
                    workload: None,
                    ..scenario(12)
                }),
                ..create_request("no workload", 12)
            },
            vec!["scenario.workload"],
        ),
        (create_request("", 12), vec!["name"]),
        (
            pb::CreateScenarioRequest {
                name: "n".repeat(201),
                team: "t".repeat(65),
                tags: vec!["a".into(), "a".into(), "x".repeat(65)],
                ..create_request("", 0)
            },
            vec![
                "name",
                "team",
                "tags[1]",
                "tags[2]",
                "scenario.horizon_months",
            ],
        ),
        (
            pb::CreateScenarioRequest {
                tags: (0..21).map(|i| format!("t{i}")).collect(),
                ..create_request("many tags", 12)
            },
            vec!["tags"],
        ),
    ];
    for (request, fields) in creates {
        let status = client.create_scenario(request.clone()).await.unwrap_err();
        assert_eq!(bad_fields(&status), fields, "{request:?}");
    }

    // A rejected update leaves the scenario as it was.
    let saved = all_pages(&mut client, pb::ListScenariosRequest::default()).await;
    let status = client
        .update_scenario(update_request(&saved[0], 0))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["scenario.horizon_months"]);
    let status = client
        .get_scenario(pb::GetScenarioRequest { id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["id"]);
    let count = all_pages(&mut client, pb::ListScenariosRequest::default())
        .await
        .len();
    assert_eq!(count, 5, "nothing invalid was saved");

    drop(client);
    server.shutdown().await;
    db.assert_intact();
}

#[tokio::test]
async fn saved_scenarios_survive_reopening_the_file() {
    let db = TempDb::new("reopen");
    let server = Server::start(&db.0).await;
    let mut client = server.client().await;
    let created = client
        .create_scenario(create_request("durable", 12))
        .await
        .unwrap()
        .into_inner();
    let updated = client
        .update_scenario(update_request(&created, 24))
        .await
        .unwrap()
        .into_inner();
    drop(client);
    server.shutdown().await;

    let server = Server::start(&db.0).await;
    let mut client = server.client().await;
    let read = client
        .get_scenario(pb::GetScenarioRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, updated);
    // The etag read before the restart still guards an edit after it.
    client
        .update_scenario(update_request(&updated, 36))
        .await
        .unwrap();
    drop(client);
    server.shutdown().await;
    db.assert_intact();
}

#[tokio::test]
async fn a_file_from_a_newer_build_is_refused() {
    let db = TempDb::new("newer");
    let conn = rusqlite::Connection::open(&db.0).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let err = Store::open_sqlite(&db.0, SqliteOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("newer"), "{err}");
    assert!(err.contains("999"), "{err}");
}

#[tokio::test]
async fn a_locked_database_is_unavailable_and_nothing_is_written() {
    let db = TempDb::new("locked");
    let server = Server::start_with(
        &db.0,
        SqliteOptions {
            busy_timeout: Duration::from_millis(100),
        },
    )
    .await;
    let mut client = server.client().await;
    let created = client
        .create_scenario(create_request("contended", 12))
        .await
        .unwrap()
        .into_inner();

    // Another process holds the write lock past the busy timeout.
    let other = rusqlite::Connection::open(&db.0).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let status = client
        .update_scenario(update_request(&created, 24))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("locked"), "{status:?}");
    let status = client
        .create_scenario(create_request("another", 12))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);

    let all = all_pages(&mut client, pb::ListScenariosRequest::default()).await;
    assert_eq!(all, std::slice::from_ref(&created));
    // Once the lock is gone the same edit goes through.
    let updated = client
        .update_scenario(update_request(&created, 24))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.revision, 2);

    drop(client);
    server.shutdown().await;
    db.assert_intact();
}
