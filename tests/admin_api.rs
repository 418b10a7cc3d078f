//! The management API (`/_admin/api/v1/`) against a real server: every
//! endpoint's success and error cases, and the S3 behaviour it governs
//! (multi-user isolation, deactivation on every shard, stats vs S3 clients).

mod common;

use common::rt;

use aws_sdk_s3::primitives::ByteStream;
use common::{s3_client, s3_client_with, Server};
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::TcpStream;

fn api_key(server: &Server) -> String {
    let text = std::fs::read_to_string(server.data_dir.join("credentials.json"))
        .expect("credentials.json");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["admin_api_key"]
        .as_str()
        .expect("admin_api_key")
        .to_string()
}

/// One request on a fresh connection; returns status, headers and body.
fn raw(
    server: &Server,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> common::RawResponse {
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\nconnection: close\r\ncontent-length: {}\r\n",
        server.port,
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    common::read_response(&mut BufReader::new(s), method == "HEAD").expect("response")
}

struct Api<'a> {
    server: &'a Server,
    key: String,
}

impl Api<'_> {
    fn new(server: &Server) -> Api<'_> {
        Api {
            server,
            key: api_key(server),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", self.key);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let r = raw(
            self.server,
            method,
            &format!("/_admin/api/v1/{path}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        );
        let v = serde_json::from_slice(&r.body)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {}", r.body_text()));
        (r.status, v)
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// Asserts the error status and that the body has the `{error, message}` shape.
    fn err(&self, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
        let (status, v) = self.call(method, path, body);
        assert_eq!(status, want, "{method} {path}: {v}");
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        v
    }

    fn create_user(&self, name: &str) -> (u64, String, String) {
        let v = self.ok("POST", "credentials", Some(json!({ "user_name": name })));
        (
            v["id"].as_u64().expect("id"),
            v["access_key"].as_str().expect("ak").to_string(),
            v["secret_key"].as_str().expect("sk").to_string(),
        )
    }
}

fn code_of<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_string()
}

#[test]
fn api_key_is_required_and_public_pages_are_served() {
    let server = Server::start(2);
    let r = raw(&server, "GET", "/_admin/api/v1/stats", &[], b"");
    assert_eq!(r.status, 401, "{}", r.body_text());
    let r = raw(
        &server,
        "GET",
        "/_admin/api/v1/stats",
        &[("authorization", "Bearer rsk_wrong")],
        b"",
    );
    assert_eq!(r.status, 401);
    let v: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["error"], "Unauthorized");
    let api = Api::new(&server);
    let stats = api.ok("GET", "stats", None);
    for f in [
        "credentials",
        "buckets",
        "objects",
        "total_storage",
        "active_multipart_uploads",
        "active_presigned_urls",
    ] {
        assert!(stats[f].is_u64(), "{f} in {stats}");
    }
    assert!(stats["total_storage_human"].is_string());
    for (path, ctype) in [
        ("/_admin/", "text/html"),
        ("/_admin/app.js", "text/javascript"),
        ("/_admin/style.css", "text/css"),
        ("/_admin/docs", "text/html"),
        ("/_admin/openapi.json", "application/json"),
        ("/_admin/metrics", "text/plain"),
    ] {
        let r = raw(&server, "GET", path, &[], b"");
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type").unwrap_or("").starts_with(ctype),
            "{path}"
        );
    }
    let r = raw(&server, "GET", "/_admin", &[], b"");
    assert_eq!((r.status, r.header("location")), (308, Some("/_admin/")));
    let r = raw(&server, "GET", "/_admin/nope", &[], b"");
    assert_eq!(r.status, 404);
    let r = raw(&server, "POST", "/_admin/", &[], b"");
    assert_eq!(r.status, 405);
    api.err("GET", "nope", None, 404);
    api.err("PATCH", "stats", None, 404);
}

#[test]
fn credentials_endpoints() {
    let server = Server::start(2);
    let api = Api::new(&server);
    let created = api.ok(
        "POST",
        "credentials",
        Some(json!({ "user_name": "john-doe", "access_key": "JOHNACCESSKEY0001", "secret_key": "johns-secret-key-123" })),
    );
    assert_eq!(created["access_key"], "JOHNACCESSKEY0001");
    assert_eq!(created["secret_key"], "johns-secret-key-123");
    assert_eq!(created["is_active"], true);
    assert!(created["created_at"]
        .as_str()
        .expect("created_at")
        .ends_with('Z'));
    let id = created["id"].as_u64().expect("id");
    let generated = api.ok("POST", "credentials", Some(json!({})));
    assert_eq!(generated["secret_key"].as_str().map(str::len), Some(40));

    let list = api.ok("GET", "credentials", None);
    let creds = list["credentials"].as_array().expect("array");
    assert_eq!(creds.len(), 3, "root and two users: {list}");
    assert!(
        creds.iter().all(|c| c.get("secret_key").is_none()),
        "secrets only on create"
    );

    let got = api.ok("GET", &format!("credentials/{id}"), None);
    assert_eq!(
        (got["user_name"].as_str(), got["bucket_count"].as_u64()),
        (Some("john-doe"), Some(0))
    );
    assert!(got.get("secret_key").is_none());

    let upd = api.ok(
        "PUT",
        &format!("credentials/{id}"),
        Some(json!({ "user_name": "john", "is_active": false })),
    );
    assert_eq!(upd["message"], "Operation completed successfully");
    let got = api.ok("GET", &format!("credentials/{id}"), None);
    assert_eq!(
        (got["user_name"].as_str(), got["is_active"].as_bool()),
        (Some("john"), Some(false))
    );

    // Errors: bad JSON, wrong types, unknown fields, duplicates, bad ids, root.
    api.err("POST", "credentials", Some(json!("not an object")), 400);
    api.err("POST", "credentials", Some(json!({ "user_name": 5 })), 400);
    api.err("POST", "credentials", Some(json!({ "colour": "red" })), 400);
    api.err(
        "POST",
        "credentials",
        Some(json!({ "secret_key": "short" })),
        400,
    );
    api.err(
        "POST",
        "credentials",
        Some(json!({ "access_key": "a/b" })),
        400,
    );
    api.err(
        "POST",
        "credentials",
        Some(json!({ "access_key": "JOHNACCESSKEY0001" })),
        409,
    );
    let r = raw(
        &server,
        "POST",
        "/_admin/api/v1/credentials",
        &[("authorization", &format!("Bearer {}", api.key))],
        b"{not json",
    );
    assert_eq!(r.status, 400);
    api.err("GET", "credentials/999", None, 404);
    api.err("GET", "credentials/abc", None, 400);
    api.err("GET", "credentials/0", None, 400);
    api.err(
        "PUT",
        "credentials/999",
        Some(json!({ "is_active": true })),
        404,
    );
    api.err(
        "PUT",
        &format!("credentials/{id}"),
        Some(json!({ "is_active": "yes" })),
        400,
    );
    api.err(
        "PUT",
        "credentials/1",
        Some(json!({ "is_active": false })),
        403,
    );
    api.err("DELETE", "credentials/1", None, 403);
    api.err("DELETE", "credentials/999", None, 404);

    assert_eq!(
        api.ok("DELETE", &format!("credentials/{id}"), None)["message"],
        "Operation completed successfully"
    );
    api.err("GET", &format!("credentials/{id}"), None, 404);
}

#[test]
fn buckets_and_objects_endpoints() {
    let server = Server::start(2);
    let api = Api::new(&server);
    let (uid, ak, sk) = api.create_user("alice");
    let b = api.ok(
        "POST",
        "buckets",
        Some(json!({ "name": "alice-bucket", "owner_id": uid })),
    );
    assert_eq!(
        (
            b["name"].as_str(),
            b["owner"].as_str(),
            b["region"].as_str()
        ),
        (Some("alice-bucket"), Some("alice"), Some("us-east-1"))
    );
    assert_eq!(b["objects"], json!([]));
    api.err(
        "POST",
        "buckets",
        Some(json!({ "name": "alice-bucket", "owner_id": uid })),
        409,
    );
    api.err(
        "POST",
        "buckets",
        Some(json!({ "name": "Bad_Name", "owner_id": uid })),
        400,
    );
    api.err(
        "POST",
        "buckets",
        Some(json!({ "name": "ok-name", "owner_id": 999 })),
        404,
    );
    api.err("POST", "buckets", Some(json!({ "name": "ok-name" })), 400);
    api.err(
        "POST",
        "buckets",
        Some(json!({ "name": "ok-name", "owner_id": uid, "region": "" })),
        400,
    );

    rt().block_on(async {
        let s3 = s3_client_with(&server, &ak, &sk).await;
        for (key, body, ctype) in [
            ("photos/a.jpg", "aaaa", "image/jpeg"),
            ("photos/2023/b.jpg", "bb", "image/jpeg"),
            ("notes.txt", "hello", "text/plain; charset=utf-8"),
        ] {
            s3.put_object()
                .bucket("alice-bucket")
                .key(key)
                .content_type(ctype)
                .metadata("category", "photos")
                .body(ByteStream::from(body.as_bytes().to_vec()))
                .send()
                .await
                .expect("put");
        }
    });

    let list = api.ok("GET", "buckets", None);
    let ours = list["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .find(|b| b["name"] == "alice-bucket")
        .cloned()
        .expect("listed");
    assert_eq!(
        (ours["object_count"].as_u64(), ours["total_size"].as_u64()),
        (Some(3), Some(11))
    );
    assert_eq!(ours["total_size_human"], "11 B");

    let detail = api.ok("GET", "buckets/alice-bucket", None);
    assert_eq!(detail["objects"].as_array().map(Vec::len), Some(3));
    assert_eq!(detail["object_count"], 3);

    let page = api.ok(
        "GET",
        "buckets/alice-bucket/objects?prefix=photos%2F&delimiter=%2F",
        None,
    );
    assert_eq!(page["objects"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["objects"][0]["key"], "photos/a.jpg");
    assert_eq!(page["prefixes"], json!(["photos/2023/"]));
    let all = api.ok("GET", "buckets/alice-bucket/objects?prefix=photos/", None);
    assert_eq!(all["objects"].as_array().map(Vec::len), Some(2));
    // The listing carries each object's Content-Type as its PUT set it
    // (the console's Type column).
    let root = api.ok("GET", "buckets/alice-bucket/objects", None);
    let types: Vec<(&str, &str)> = root["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            (
                o["key"].as_str().unwrap_or(""),
                o["content_type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("notes.txt", "text/plain; charset=utf-8"),
            ("photos/2023/b.jpg", "image/jpeg"),
            ("photos/a.jpg", "image/jpeg"),
        ],
        "{root}"
    );
    assert_eq!(
        detail["objects"][0]["content_type"],
        "text/plain; charset=utf-8"
    );
    api.err(
        "GET",
        "buckets/alice-bucket/objects?delimiter=ab",
        None,
        400,
    );
    api.err("GET", "buckets/nope-bucket/objects", None, 404);

    let obj = api.ok("GET", "buckets/alice-bucket/objects/photos%2Fa.jpg", None);
    assert_eq!(
        (obj["size"].as_u64(), obj["content_type"].as_str()),
        (Some(4), Some("image/jpeg"))
    );
    assert_eq!(obj["metadata"], json!({ "category": "photos" }));
    assert_eq!(
        (obj["is_multipart"].as_bool(), obj["part_count"].as_u64()),
        (Some(false), Some(0))
    );
    assert!(obj["storage_path"]
        .as_str()
        .is_some_and(|p| p.starts_with("shard-")));
    assert_eq!(obj["etag"].as_str().map(str::len), Some(32));
    let same = api.ok("GET", "buckets/alice-bucket/objects/photos/a.jpg", None);
    assert_eq!(same["key"], "photos/a.jpg");
    api.err("GET", "buckets/alice-bucket/objects/missing", None, 404);

    assert_eq!(
        api.ok("GET", "buckets/alice-bucket/multipart-uploads", None),
        json!({ "uploads": [] })
    );
    api.err("GET", "buckets/nope-bucket/multipart-uploads", None, 404);
    // Uploads in progress (on whichever shards own their keys) are listed with
    // their parts; a completed one disappears from the list.
    let upload_ids: Vec<String> = rt().block_on(async {
        let s3 = s3_client_with(&server, &ak, &sk).await;
        let mut ids = Vec::new();
        for key in ["big/one.bin", "big/two.bin"] {
            let up = s3
                .create_multipart_upload()
                .bucket("alice-bucket")
                .key(key)
                .content_type("application/zip")
                .send()
                .await
                .expect("create upload");
            let id = up.upload_id().expect("id").to_string();
            s3.upload_part()
                .bucket("alice-bucket")
                .key(key)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from(vec![7u8; 1000]))
                .send()
                .await
                .expect("part");
            ids.push(id);
        }
        ids
    });
    // Root starts one in alice's bucket: the initiator is root, not the
    // bucket's owner, in the admin API and in ListMultipartUploads alike.
    let root_upload = rt().block_on(async {
        let s3 = common::s3_client(&server).await;
        let up = s3
            .create_multipart_upload()
            .bucket("alice-bucket")
            .key("big/root.bin")
            .send()
            .await
            .expect("root's upload");
        let listed = s3
            .list_multipart_uploads()
            .bucket("alice-bucket")
            .send()
            .await
            .expect("list uploads");
        let who: Vec<(String, String, String)> = listed
            .uploads()
            .iter()
            .map(|u| {
                let name = |o: Option<&str>| o.unwrap_or_default().to_string();
                (
                    name(u.key()),
                    name(u.initiator().and_then(|i| i.display_name())),
                    name(u.owner().and_then(|o| o.display_name())),
                )
            })
            .collect();
        // Uploads are listed in key order, as S3 lists them.
        let upload = |k: &str, n: &str| (k.to_string(), n.to_string(), n.to_string());
        assert_eq!(
            who,
            [
                upload("big/one.bin", "alice"),
                upload("big/root.bin", "root"),
                upload("big/two.bin", "alice"),
            ]
        );
        let parts = s3
            .list_parts()
            .bucket("alice-bucket")
            .key("big/root.bin")
            .upload_id(up.upload_id().expect("id"))
            .send()
            .await
            .expect("list parts");
        assert_eq!(
            parts.initiator().and_then(|i| i.display_name()),
            Some("root")
        );
        assert_eq!(parts.owner().and_then(|o| o.display_name()), Some("root"));
        up.upload_id().expect("id").to_string()
    });
    let listed = api.ok("GET", "buckets/alice-bucket/multipart-uploads", None);
    let uploads = listed["uploads"].as_array().expect("uploads");
    assert_eq!(uploads.len(), 3, "{listed}");
    let by: Vec<(&str, &str)> = uploads
        .iter()
        .map(|u| {
            let field = |name: &str| u[name].as_str().expect(name);
            (field("object_key"), field("initiated_by"))
        })
        .collect();
    // In key order, like ListMultipartUploads.
    assert_eq!(
        by,
        [
            ("big/one.bin", "alice"),
            ("big/root.bin", "root"),
            ("big/two.bin", "alice")
        ]
    );
    rt().block_on(async {
        common::s3_client(&server)
            .await
            .abort_multipart_upload()
            .bucket("alice-bucket")
            .key("big/root.bin")
            .upload_id(&root_upload)
            .send()
            .await
            .expect("abort root's");
    });
    let listed = api.ok("GET", "buckets/alice-bucket/multipart-uploads", None);
    let uploads = listed["uploads"].as_array().expect("uploads");
    assert_eq!(uploads.len(), 2, "{listed}");
    assert_eq!(uploads[0]["object_key"], "big/one.bin");
    assert_eq!(
        uploads[0]["upload_id"].as_str(),
        Some(upload_ids[0].as_str())
    );
    assert_eq!(uploads[0]["part_count"], 1);
    assert_eq!(uploads[0]["total_size"], 1000);
    assert_eq!(uploads[0]["content_type"], "application/zip");
    assert_eq!(api.ok("GET", "stats", None)["active_multipart_uploads"], 2);
    rt().block_on(async {
        let s3 = s3_client_with(&server, &ak, &sk).await;
        for (key, id) in ["big/one.bin", "big/two.bin"].iter().zip(&upload_ids) {
            s3.abort_multipart_upload()
                .bucket("alice-bucket")
                .key(*key)
                .upload_id(id)
                .send()
                .await
                .expect("abort");
        }
    });
    assert_eq!(
        api.ok("GET", "buckets/alice-bucket/multipart-uploads", None),
        json!({ "uploads": [] })
    );

    api.err("DELETE", "buckets/alice-bucket", None, 409);
    api.ok("DELETE", "buckets/alice-bucket/objects/notes.txt", None);
    api.err(
        "DELETE",
        "buckets/alice-bucket/objects/notes.txt",
        None,
        404,
    );
    let del = api.ok(
        "POST",
        "buckets/alice-bucket/delete-objects",
        Some(json!({ "keys": ["photos/a.jpg", "photos/2023/b.jpg", "never"] })),
    );
    assert_eq!(del["deleted"], json!(["photos/a.jpg", "photos/2023/b.jpg"]));
    api.err(
        "POST",
        "buckets/alice-bucket/delete-objects",
        Some(json!({ "keys": [] })),
        400,
    );
    api.err(
        "POST",
        "buckets/alice-bucket/delete-objects",
        Some(json!({ "keys": "x" })),
        400,
    );
    api.err(
        "POST",
        "buckets/nope-bucket/delete-objects",
        Some(json!({ "keys": ["x"] })),
        404,
    );

    let owner = api.ok("GET", &format!("credentials/{uid}"), None);
    assert_eq!(owner["bucket_count"], 1);
    assert_eq!(owner["buckets"][0]["name"], "alice-bucket");
    api.err("DELETE", &format!("credentials/{uid}"), None, 409);
    api.ok("DELETE", "buckets/alice-bucket", None);
    api.err("GET", "buckets/alice-bucket", None, 404);
    api.err("DELETE", "buckets/alice-bucket", None, 404);
}

#[test]
fn presigned_urls_work_against_s3() {
    let server = Server::start(2);
    let api = Api::new(&server);
    let (uid, ak, _) = api.create_user("bob");
    api.ok(
        "POST",
        "buckets",
        Some(json!({ "name": "bob-bucket", "owner_id": uid })),
    );
    let put = api.ok(
        "POST",
        "presigned-urls",
        Some(json!({ "bucket_name": "bob-bucket", "object_key": "dir/hello world.txt", "method": "PUT", "expires_in": 600, "access_key": ak })),
    );
    let url = put["url"].as_str().expect("url");
    assert!(
        url.starts_with("/bob-bucket/dir/hello%20world.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"),
        "{url}"
    );
    let r = raw(&server, "PUT", url, &[], b"presigned body");
    assert_eq!(r.status, 200, "{}", r.body_text());
    let get = api.ok("POST", "presigned-urls", Some(json!({ "bucket_name": "bob-bucket", "object_key": "dir/hello world.txt", "access_key": ak })));
    let r = raw(&server, "GET", get["url"].as_str().expect("url"), &[], b"");
    assert_eq!((r.status, r.body_text().as_str()), (200, "presigned body"));
    // A GET URL does not authorise a PUT.
    let r = raw(&server, "PUT", get["url"].as_str().expect("url"), &[], b"x");
    assert_eq!(r.status, 403);

    let listed = api.ok("GET", "presigned-urls", None);
    let urls = listed["urls"].as_array().expect("urls");
    assert_eq!(urls.len(), 2, "{listed}");
    assert_eq!(
        (urls[0]["method"].as_str(), urls[0]["access_key"].as_str()),
        (Some("PUT"), Some(ak.as_str()))
    );
    assert_eq!(api.ok("GET", "stats", None)["active_presigned_urls"], 2);

    // A POST form: the URL and fields the console hands a browser.
    let post = api.ok(
        "POST",
        "presigned-urls",
        Some(json!({ "bucket_name": "bob-bucket", "object_key": "form/up load.txt", "method": "POST", "expires_in": 600, "access_key": ak })),
    );
    assert_eq!(post["url"], "/bob-bucket", "{post}");
    let fields: Vec<(String, String)> = post["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().expect("string").to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body = common::form_body("formBoundary7", &refs, b"posted from a form");
    let ct = [(
        "content-type",
        "multipart/form-data; boundary=formBoundary7",
    )];
    let r = raw(&server, "POST", "/bob-bucket", &ct, &body);
    assert_eq!(r.status, 204, "{}", r.body_text());
    let get = api.ok("POST", "presigned-urls", Some(json!({ "bucket_name": "bob-bucket", "object_key": "form/up load.txt", "access_key": ak })));
    let r = raw(&server, "GET", get["url"].as_str().expect("url"), &[], b"");
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (200, "posted from a form")
    );
    // The form names its key: another key is outside its policy.
    let other: Vec<(&str, &str)> = refs
        .iter()
        .map(|&(n, v)| {
            if n == "key" {
                (n, "form/other.txt")
            } else {
                (n, v)
            }
        })
        .collect();
    let body = common::form_body("formBoundary7", &other, b"x");
    let r = raw(&server, "POST", "/bob-bucket", &ct, &body);
    assert_eq!(r.status, 403, "{}", r.body_text());

    let base = json!({ "bucket_name": "bob-bucket", "object_key": "k", "access_key": ak });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        Some(b)
    };
    api.err("POST", "presigned-urls", with("expires_in", json!(0)), 400);
    api.err(
        "POST",
        "presigned-urls",
        with("expires_in", json!(604801)),
        400,
    );
    api.err(
        "POST",
        "presigned-urls",
        with("method", json!("PATCH")),
        400,
    );
    api.err(
        "POST",
        "presigned-urls",
        with("bucket_name", json!("no-such-bucket")),
        404,
    );
    api.err(
        "POST",
        "presigned-urls",
        with("access_key", json!("NOSUCHKEY")),
        404,
    );
    api.err("POST", "presigned-urls", with("object_key", json!("")), 400);
    api.err(
        "POST",
        "presigned-urls",
        Some(json!({ "bucket_name": "bob-bucket" })),
        400,
    );
    let (_, other, _) = api.create_user("eve");
    api.err(
        "POST",
        "presigned-urls",
        with("access_key", json!(other)),
        403,
    );
}

#[test]
fn second_credential_cannot_touch_first_ones_bucket() {
    let server = Server::start(2);
    let api = Api::new(&server);
    let (_, ak, sk) = api.create_user("mallory");
    rt().block_on(async {
        let root = s3_client(&server).await;
        root.create_bucket()
            .bucket("root-bucket")
            .send()
            .await
            .expect("create");
        root.put_object()
            .bucket("root-bucket")
            .key("secret.txt")
            .body(ByteStream::from_static(b"s"))
            .send()
            .await
            .expect("put");
        let other = s3_client_with(&server, &ak, &sk).await;
        let e = other
            .get_object()
            .bucket("root-bucket")
            .key("secret.txt")
            .send()
            .await
            .expect_err("read");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
        let e = other
            .put_object()
            .bucket("root-bucket")
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("write");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
        let e = other
            .list_objects_v2()
            .bucket("root-bucket")
            .send()
            .await
            .expect_err("list");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
        let e = other
            .delete_object()
            .bucket("root-bucket")
            .key("secret.txt")
            .send()
            .await
            .expect_err("delete");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
        other
            .create_bucket()
            .bucket("mallory-bucket")
            .send()
            .await
            .expect("own bucket");
        let mine = other.list_buckets().send().await.expect("list buckets");
        let names: Vec<_> = mine.buckets().iter().filter_map(|b| b.name()).collect();
        assert_eq!(names, ["mallory-bucket"]);
        // Root sees and may use everything.
        let all = root.list_buckets().send().await.expect("root list");
        assert_eq!(all.buckets().len(), 2);
        root.put_object()
            .bucket("mallory-bucket")
            .key("r")
            .body(ByteStream::from_static(b"r"))
            .send()
            .await
            .expect("root put");
    });
    let detail = api.ok("GET", "buckets/mallory-bucket", None);
    assert_eq!(detail["owner"], "mallory");
}

#[test]
fn bucket_acls_grant_other_credentials_what_they_say() {
    use aws_sdk_s3::types::BucketCannedAcl;
    let server = Server::start(2);
    let api = Api::new(&server);
    let (_, ak, sk) = api.create_user("bob");
    rt().block_on(async {
        let root = s3_client(&server).await;
        root.create_bucket()
            .bucket("shared")
            .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
            .send()
            .await
            .expect("create");
        root.put_object()
            .bucket("shared")
            .key("doc")
            .body(ByteStream::from_static(b"for bob"))
            .send()
            .await
            .expect("put");
        let bob = s3_client_with(&server, &ak, &sk).await;
        let set = |acl: BucketCannedAcl| root.put_bucket_acl().bucket("shared").acl(acl).send();
        let read = || bob.get_object().bucket("shared").key("doc").send();
        let write = || {
            bob.put_object()
                .bucket("shared")
                .key("from-bob")
                .body(ByteStream::from_static(b"b"))
                .send()
        };
        let e = read().await.expect_err("private");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");

        set(BucketCannedAcl::AuthenticatedRead)
            .await
            .expect("authenticated-read");
        bob.list_objects_v2()
            .bucket("shared")
            .send()
            .await
            .expect("any credential lists");
        let e = read()
            .await
            .expect_err("a bucket grant does not read objects");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
        // Object ACLs are not stored yet: refused, not ignored.
        let e = root
            .put_object_acl()
            .bucket("shared")
            .key("doc")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::AuthenticatedRead)
            .send()
            .await
            .expect_err("object acl");
        assert_eq!(code_of(&e.into_service_error()), "NotImplemented");
        let e = read().await.expect_err("still private");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
        let e = write().await.expect_err("nor does bob write");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
        // The ACL itself stays the owner's.
        let e = bob
            .get_bucket_acl()
            .bucket("shared")
            .send()
            .await
            .expect_err("not bob's ACL to read");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
        let e = bob
            .put_bucket_acl()
            .bucket("shared")
            .acl(BucketCannedAcl::PublicReadWrite)
            .send()
            .await
            .expect_err("nor to change");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");

        set(BucketCannedAcl::PublicReadWrite)
            .await
            .expect("public-read-write");
        write().await.expect("now bob writes");
        let e = bob
            .delete_bucket()
            .bucket("shared")
            .send()
            .await
            .expect_err("the bucket stays root's");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
    });
}

#[test]
fn deactivated_key_is_refused_on_every_shard() {
    let server = Server::start(4);
    let api = Api::new(&server);
    let (id, ak, sk) = api.create_user("temp");
    rt().block_on(async {
        let c = s3_client_with(&server, &ak, &sk).await;
        c.create_bucket()
            .bucket("temp-bucket")
            .send()
            .await
            .expect("create");
        api.ok(
            "PUT",
            &format!("credentials/{id}"),
            Some(json!({ "is_active": false })),
        );
        // Fresh clients open fresh connections, which SO_REUSEPORT spreads over the shards.
        for i in 0..16 {
            let c = s3_client_with(&server, &ak, &sk).await;
            let e = c
                .list_objects_v2()
                .bucket("temp-bucket")
                .send()
                .await
                .expect_err("refused");
            assert_eq!(
                code_of(&e.into_service_error()),
                "InvalidAccessKeyId",
                "attempt {i}"
            );
        }
        api.ok(
            "PUT",
            &format!("credentials/{id}"),
            Some(json!({ "is_active": true })),
        );
        for _ in 0..8 {
            let c = s3_client_with(&server, &ak, &sk).await;
            c.list_objects_v2()
                .bucket("temp-bucket")
                .send()
                .await
                .expect("reactivated");
        }
    });
}

#[test]
fn stats_match_what_s3_clients_created() {
    let server = Server::start(3);
    let api = Api::new(&server);
    let (_, ak, sk) = api.create_user("writer");
    let sizes = [0usize, 1, 100, 4096, 70_000, 1 << 20];
    rt().block_on(async {
        let root = s3_client(&server).await;
        let user = s3_client_with(&server, &ak, &sk).await;
        root.create_bucket()
            .bucket("stats-a")
            .send()
            .await
            .expect("a");
        user.create_bucket()
            .bucket("stats-b")
            .send()
            .await
            .expect("b");
        for (i, n) in sizes.iter().enumerate() {
            let (c, b) = if i % 2 == 0 {
                (&root, "stats-a")
            } else {
                (&user, "stats-b")
            };
            c.put_object()
                .bucket(b)
                .key(format!("k{i}"))
                .body(ByteStream::from(vec![7u8; *n]))
                .send()
                .await
                .expect("put");
        }
        // Overwrite one: counts must not double.
        root.put_object()
            .bucket("stats-a")
            .key("k0")
            .body(ByteStream::from(vec![1u8; 10]))
            .send()
            .await
            .expect("overwrite");
    });
    let stats = api.ok("GET", "stats", None);
    let total: u64 = sizes.iter().map(|&n| n as u64).sum::<u64>() + 10;
    assert_eq!(stats["objects"], sizes.len() as u64, "{stats}");
    assert_eq!(stats["total_storage"], total, "{stats}");
    assert_eq!(
        (stats["buckets"].as_u64(), stats["credentials"].as_u64()),
        (Some(2), Some(2))
    );
    let metrics = raw(&server, "GET", "/_admin/metrics", &[], b"").body_text();
    assert!(
        metrics.contains("operation=\"PutObject\",status=\"200\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringstore_request_duration_seconds_bucket{shard=\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringstore_store_objects{shard=\"2\"}"),
        "{metrics}"
    );
}

/// The dashboard charts' data (`GET stats/history`): per interval over the
/// last minutes, every shard merged, S3 requests, body bytes and p50/p99
/// latency. S3 load moves them; the management API's own calls do not.
#[test]
fn stats_history_moves_with_s3_load_and_merges_shards() {
    const PUTS: u64 = 30;
    const BODY_BYTES: u64 = 10_000;
    let server = Server::start(2);
    let api = Api::new(&server);
    let sum = |v: &Value, field: &str| -> u64 {
        v["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| p[field].as_u64().expect(field))
            .sum()
    };
    let before = api.ok("GET", "stats/history", None);
    let points = before["points"].as_array().expect("points");
    assert_eq!(before["interval_secs"], 5, "{before}");
    assert_eq!(points.len(), 60, "five minutes of 5 s intervals");
    assert_eq!(
        points.last().expect("last")["complete"],
        false,
        "in progress"
    );
    assert!(points[..59].iter().all(|p| p["complete"] == true));
    assert!(points
        .windows(2)
        .all(|w| w[1]["start"].as_f64() > w[0]["start"].as_f64()));
    assert_eq!(sum(&before, "requests"), 0, "no S3 request yet: {before}");
    // Keys on both shards, written and read back.
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("charts")
            .send()
            .await
            .expect("create");
        for i in 0..PUTS {
            s3.put_object()
                .bucket("charts")
                .key(format!("k{i}"))
                .body(ByteStream::from(vec![3u8; BODY_BYTES as usize]))
                .send()
                .await
                .expect("put");
            let got = s3
                .get_object()
                .bucket("charts")
                .key(format!("k{i}"))
                .send()
                .await
                .expect("get");
            got.body.collect().await.expect("body");
        }
    });
    let after = api.ok("GET", "stats/history", None);
    assert!(sum(&after, "requests") > 2 * PUTS, "{after}");
    assert!(sum(&after, "bytes_in") >= PUTS * BODY_BYTES, "{after}");
    assert!(sum(&after, "bytes_out") >= PUTS * BODY_BYTES, "{after}");
    let busy: Vec<&Value> = after["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter(|p| p["requests"].as_u64() > Some(0))
        .collect();
    assert!(!busy.is_empty());
    for p in &busy {
        let (p50, p99) = (p["p50_micros"].as_u64(), p["p99_micros"].as_u64());
        assert!(p50.is_some_and(|p50| p50 > 0 && p99 >= Some(p50)), "{p}");
        let rate = p["requests_per_sec"].as_f64().expect("rate");
        let secs = p["seconds"].as_f64().expect("seconds");
        assert!(
            (rate * secs - p["requests"].as_f64().expect("n")).abs() < 1e-6,
            "{p}"
        );
    }
    // Every shard's requests are in the sums: the Prometheus counters, per
    // shard, count the same S3 requests.
    let metrics = raw(&server, "GET", "/_admin/metrics", &[], b"").body_text();
    let s3_requests: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("ringstore_requests_total{"))
        .filter(|l| !l.contains("operation=\"Admin"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(s3_requests, sum(&after, "requests"), "{metrics}");
    // The API's own calls are not S3 traffic.
    for _ in 0..5 {
        api.ok("GET", "stats", None);
    }
    let again = api.ok("GET", "stats/history", None);
    assert_eq!(sum(&again, "requests"), sum(&after, "requests"));
}

/// Sum of one per-shard counter in the Prometheus text.
fn metric_sum(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The per-shard record cache serves repeated GETs (hits counted in the
/// metrics), an overwrite is read back new at once, and `--cache-mib 0`
/// turns the cache off.
#[test]
fn record_cache_serves_repeated_gets_and_can_be_turned_off() {
    for (args, cached) in [(&[][..], true), (&["--cache-mib", "0"][..], false)] {
        let server = Server::start_with(2, args);
        rt().block_on(async {
            let s3 = s3_client(&server).await;
            s3.create_bucket()
                .bucket("hot")
                .send()
                .await
                .expect("bucket");
            for round in 0u8..2 {
                for i in 0..8 {
                    let body = vec![round * 16 + i; 10_000 + i as usize];
                    s3.put_object()
                        .bucket("hot")
                        .key(format!("k{i}"))
                        .body(ByteStream::from(body.clone()))
                        .send()
                        .await
                        .expect("put");
                    for _ in 0..3 {
                        let got = common::get_bytes(&s3, "hot", &format!("k{i}")).await;
                        assert!(
                            got[..] == body[..],
                            "k{i} round {round}: stale or wrong bytes"
                        );
                    }
                }
            }
        });
        let metrics = raw(&server, "GET", "/_admin/metrics", &[], b"").body_text();
        let hits = metric_sum(&metrics, "ringstore_cache_hits_total");
        let misses = metric_sum(&metrics, "ringstore_cache_misses_total");
        if cached {
            // Each of the 16 versions: one miss, then two hits.
            assert_eq!((hits, misses), (32, 16), "{metrics}");
            assert!(metric_sum(&metrics, "ringstore_cache_bytes") > 0);
        } else {
            assert_eq!((hits, misses), (0, 0), "{metrics}");
        }
    }
}

/// After a request a lightly loaded shard keeps its loop turning for
/// `--idle-spin-us` instead of sleeping (counted in the metrics). Idle
/// connections (an SDK's pool) do not stop it; more than two connections
/// busy with requests do; `--idle-spin-us 0` turns it off.
#[test]
fn shards_spin_after_requests_only_while_lightly_loaded() {
    let turns = |server: &Server| {
        let metrics = raw(server, "GET", "/_admin/metrics", &[], b"").body_text();
        metric_sum(&metrics, "ringstore_idle_spin_turns_total")
    };
    let requests = |server: &Server| {
        for _ in 0..20 {
            raw(server, "GET", "/", &[], b"");
        }
    };
    for (budget, spins) in [("2000", true), ("0", false)] {
        let server = Server::start_with(1, &["--idle-spin-us", budget, "--internal-metrics"]);
        requests(&server);
        let light = turns(&server);
        assert_eq!(
            light > 0,
            spins,
            "one connection at a time, budget {budget}"
        );

        // Four idle connections, as a client's pool keeps them.
        let idle: Vec<TcpStream> = (0..4)
            .map(|_| TcpStream::connect(("127.0.0.1", server.port)).expect("connect"))
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        requests(&server);
        let with_idle = turns(&server);
        assert_eq!(
            with_idle > light,
            spins,
            "idle connections stopped the spin"
        );
        drop(idle);

        // Three connections busy with requests: no spinning meanwhile.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy: Vec<_> = (0..3)
            .map(|_| {
                let (port, stop) = (server.port, stop.clone());
                std::thread::spawn(move || {
                    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                    let mut reader = BufReader::new(s.try_clone().expect("clone"));
                    let mut writer = s;
                    let req = format!("GET / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n");
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        writer.write_all(req.as_bytes()).expect("write");
                        common::read_response(&mut reader, false).expect("response");
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let before = turns(&server);
        requests(&server);
        let after = turns(&server);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in busy {
            t.join().expect("busy client");
        }
        assert_eq!(after, before, "spun with three busy connections");
    }
}

/// A shard answers another shard's forwarded read or PUT through the
/// asker's mesh queue (one wake-up for a batch of answers), except while
/// shards are lightly loaded and spinning, when the asker is awake and the
/// answer goes straight to its reply channel. Either way every object,
/// inline-sized or streamed, reads back whole from both shards.
#[test]
fn peers_answer_through_the_mesh_queue_unless_spinning() {
    for (spin, queued) in [("0", true), ("2000", false)] {
        let server = Server::start_with(2, &["--idle-spin-us", spin, "--internal-metrics"]);
        rt().block_on(async {
            let s3 = s3_client(&server).await;
            s3.create_bucket()
                .bucket("hops")
                .send()
                .await
                .expect("bucket");
            // 24 keys land on both shards; the larger bodies stream to
            // their owner instead of riding with the commit.
            for i in 0..24usize {
                let len = if i % 3 == 0 { 200_000 + i } else { 3_000 + i };
                let body: Vec<u8> = (0..len).map(|b| (b * 31 + i) as u8).collect();
                s3.put_object()
                    .bucket("hops")
                    .key(format!("k{i}"))
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await
                    .expect("put");
                let got = common::get_bytes(&s3, "hops", &format!("k{i}")).await;
                assert!(got[..] == body[..], "k{i}: wrong bytes (spin {spin})");
            }
        });
        let metrics = raw(&server, "GET", "/_admin/metrics", &[], b"").body_text();
        let via_queue = metric_sum(&metrics, "ringstore_mesh_answers_queued_total");
        let direct = metric_sum(&metrics, "ringstore_mesh_answers_direct_total");
        if queued {
            assert!(
                via_queue > 0 && direct == 0,
                "spin {spin}: {via_queue} queued, {direct} direct"
            );
        } else {
            assert!(
                direct > 0 && via_queue == 0,
                "spin {spin}: {via_queue} queued, {direct} direct"
            );
        }
    }
}

/// PUT and UploadPart ETags are computed by the shard's batched MD5 hasher:
/// every body's blocks (data and padding) are counted by its metrics, and
/// each ETag is the body's MD5 whatever its length relative to a block.
#[test]
fn put_etags_come_from_the_batched_md5_hasher() {
    use md5::Digest;
    let server = Server::start_with(2, &["--internal-metrics"]);
    let sizes = [0usize, 1, 55, 56, 63, 64, 65, 4096, 100_000, 1_000_003];
    // MD5 pads with 0x80 and an 8-byte length, in whole 64-byte blocks.
    let blocks = |n: usize| (n as u64 + 8) / 64 + 1;
    let mut expected_blocks = 0;
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("etag")
            .send()
            .await
            .expect("bucket");
        let puts = sizes.iter().map(|&n| {
            let s3 = s3.clone();
            async move {
                let body: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
                let out = s3
                    .put_object()
                    .bucket("etag")
                    .key(format!("k{n}"))
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await
                    .expect("put");
                (body, out.e_tag().unwrap_or_default().to_string())
            }
        });
        for (body, etag) in futures_util::future::join_all(puts).await {
            let want = format!("\"{}\"", hex(&md5::Md5::digest(&body)));
            assert_eq!(etag, want, "ETag of a {}-byte PUT", body.len());
            expected_blocks += blocks(body.len());
        }
        let up = s3
            .create_multipart_upload()
            .bucket("etag")
            .key("mp")
            .send()
            .await
            .expect("create");
        let part: Vec<u8> = (0..5 * 1024 * 1024 + 3).map(|i| (i % 251) as u8).collect();
        let out = s3
            .upload_part()
            .bucket("etag")
            .key("mp")
            .upload_id(up.upload_id().unwrap_or_default())
            .part_number(1)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .expect("part");
        let want = format!("\"{}\"", hex(&md5::Md5::digest(&part)));
        assert_eq!(out.e_tag().unwrap_or_default(), want);
        expected_blocks += blocks(part.len());
    });
    let metrics = raw(&server, "GET", "/_admin/metrics", &[], b"").body_text();
    assert_eq!(
        metric_sum(&metrics, "ringstore_md5_blocks_total"),
        expected_blocks,
        "{metrics}"
    );
    assert!(metric_sum(&metrics, "ringstore_md5_steps_total") > 0);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Health endpoints answer without authentication: liveness always,
/// readiness once every shard serves and can write.
#[test]
fn browser_visits_to_root_reach_the_console_and_s3_clients_do_not() {
    let server = Server::start(2);
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    // A browser's visit to the service root is sent to the console.
    for method in ["GET", "HEAD"] {
        let r = raw(&server, method, "/", &[("accept", browser_accept)], b"");
        assert_eq!(
            (r.status, r.header("location")),
            (307, Some("/_admin/")),
            "{method} /"
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // An unsigned non-browser GET / keeps S3's error answer.
    for accept in [None, Some("*/*"), Some("application/xml")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let r = raw(&server, "GET", "/", &headers, b"");
        assert_eq!(r.status, 403, "accept {accept:?}: {}", r.body_text());
        assert!(
            r.body_text().contains("<Code>AccessDenied</Code>"),
            "{}",
            r.body_text()
        );
    }
    // A query (an S3 operation, a presigned URL) or an Authorization header
    // is S3's even from a browser.
    let r = raw(
        &server,
        "GET",
        "/?x-id=ListBuckets",
        &[("accept", browser_accept)],
        b"",
    );
    assert_eq!(r.status, 403, "{}", r.body_text());
    let r = raw(
        &server,
        "GET",
        "/",
        &[
            ("accept", browser_accept),
            ("authorization", "AWS4-HMAC-SHA256 bogus"),
        ],
        b"",
    );
    assert!(
        r.status >= 400 && r.header("location").is_none(),
        "{}",
        r.status
    );
    // A signed ListBuckets is unchanged, whatever it accepts.
    let host = format!("127.0.0.1:{}", server.port);
    let req = common::signed_request(
        "GET",
        "/",
        "",
        &host,
        b"",
        ringstore::util::time::unix_now(),
        &[("accept", browser_accept), ("connection", "close")],
    );
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(&req).expect("write");
    let r = common::read_response(&mut BufReader::new(s), false).expect("response");
    assert_eq!(r.status, 200, "{}", r.body_text());
    assert!(
        r.body_text().contains("<ListAllMyBucketsResult"),
        "{}",
        r.body_text()
    );
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.list_buckets().send().await.expect("SDK ListBuckets");
    });

    // The favicon: at /favicon.ico (browsers ask there) and as the
    // console's <link rel=icon>.
    for path in ["/favicon.ico", "/_admin/favicon.svg"] {
        let r = raw(&server, "GET", path, &[], b"");
        assert_eq!(r.status, 200, "{path}: {}", r.body_text());
        assert_eq!(r.header("content-type"), Some("image/svg+xml"), "{path}");
        assert!(r.body_text().starts_with("<svg"), "{path}");
    }
    let html = raw(&server, "GET", "/_admin/", &[], b"").body_text();
    assert!(html.contains(r#"rel="icon""#) && html.contains("/_admin/favicon.svg"));
    // favicon.ico is a valid bucket name: once such a bucket exists, the
    // path is its (S3's) again.
    let api = Api::new(&server);
    let (uid, _, _) = api.create_user("icon-owner");
    api.ok(
        "POST",
        "buckets",
        Some(json!({ "name": "favicon.ico", "owner_id": uid })),
    );
    let r = raw(&server, "GET", "/favicon.ico", &[], b"");
    assert_eq!(r.status, 403, "{}", r.body_text());
    assert!(
        r.body_text().contains("<Code>AccessDenied</Code>"),
        "{}",
        r.body_text()
    );
}

#[test]
fn health_endpoints_answer_without_authentication() {
    let server = Server::start(3);
    for (path, body) in [
        ("/_admin/health/live", "live\n"),
        ("/_admin/health/ready", "ready\n"),
    ] {
        let r = raw(&server, "GET", path, &[], b"");
        assert_eq!((r.status, r.body_text().as_str()), (200, body), "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let r = raw(&server, "HEAD", path, &[], b"");
        assert_eq!(r.status, 200, "HEAD {path}");
    }
}

/// The scrape: fixed-bucket latency histograms (summable, no quantiles),
/// the process's and the data dir's figures, the build, and internal
/// tuning series only with `--internal-metrics`.
#[test]
fn metrics_expose_histograms_process_disk_and_build() {
    let server = Server::start(2);
    raw(&server, "GET", "/", &[], b"");
    raw(&server, "GET", "/_admin/health/live", &[], b"");
    let r = raw(&server, "GET", "/_admin/metrics", &[], b"");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let m = r.body_text();
    assert!(
        m.contains("# TYPE ringstore_request_duration_seconds histogram"),
        "{m}"
    );
    assert!(!m.contains("quantile="), "no lifetime quantiles:\n{m}");
    let inf = m
        .lines()
        .find(|l| {
            l.starts_with("ringstore_request_duration_seconds_bucket{") && l.contains("le=\"+Inf\"")
        })
        .expect("+Inf bucket");
    let count_line = inf
        .replace("_bucket{", "_count{")
        .replace(",le=\"+Inf\"", "");
    assert!(
        m.lines().any(|l| l == count_line),
        "+Inf bucket equals the count: {inf}\n{m}"
    );
    for series in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
        "ringstore_build_info{version=\"",
        "ringstore_disk_capacity_bytes{path=\"",
        "ringstore_disk_free_bytes{path=\"",
        "ringstore_store_live_bytes{shard=\"1\"}",
        "ringstore_connections{shard=\"0\"}",
    ] {
        assert!(m.contains(series), "{series} missing:\n{m}");
    }
    assert!(
        !m.contains("ringstore_md5_steps_total"),
        "internal series without the option"
    );
    let internal = Server::start_with(1, &["--internal-metrics"]);
    let m = raw(&internal, "GET", "/_admin/metrics", &[], b"").body_text();
    assert!(m.contains("ringstore_md5_steps_total{shard=\"0\"}"), "{m}");
}

/// docs/grafana-dashboard.json: every query names series this server
/// exports (a renamed or dropped series fails here, not on a dashboard).
#[test]
fn the_grafana_dashboard_queries_only_exported_series() {
    let server = Server::start(2);
    raw(&server, "GET", "/", &[], b"");
    raw(&server, "GET", "/_admin/health/live", &[], b"");
    let m = raw(&server, "GET", "/_admin/metrics", &[], b"").body_text();
    let exported: std::collections::HashSet<&str> = m
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana-dashboard.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("json");
    let mut queries: Vec<String> = dash["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .map(|v| v["query"].as_str().expect("query").to_string())
        .collect();
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().expect("targets") {
            queries.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    assert!(queries.len() > 15);
    for q in &queries {
        let names: Vec<&str> = q
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|t| t.starts_with("ringstore_") || t.starts_with("process_"))
            .collect();
        assert!(!names.is_empty(), "a query with no series of ours: {q}");
        for n in names {
            assert!(exported.contains(n), "{n} (in `{q}`) is not exported:\n{m}");
        }
    }
}

/// Access state set through S3 and the admin API — policy, bucket and
/// object ACLs, ownership controls, block public access — is enforced for
/// a second credential and survives a restart; canonical ids are stable.
#[test]
fn access_state_is_enforced_and_survives_restart() {
    use aws_sdk_s3::types::{
        ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
        PublicAccessBlockConfiguration,
    };
    let mut server = Server::start(2);
    let api = Api::new(&server);
    let (alice_id, ak, sk) = api.create_user("alice");
    let (bob_id, bk, bs) = api.create_user("bob");
    let alice_canonical = api.ok("GET", &format!("credentials/{alice_id}"), None)["canonical_id"]
        .as_str()
        .expect("canonical id")
        .to_string();
    let bob_view = api.ok("GET", &format!("credentials/{bob_id}"), None);
    let bob_canonical = bob_view["canonical_id"].as_str().expect("id").to_string();
    let bob_account = bob_view["account_id"]
        .as_str()
        .expect("account")
        .to_string();
    assert_eq!(bob_account, format!("{bob_id:012}"));
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{bob_account}:user/bob"}},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::kept/public/*"}}]}}"#
    );
    rt().block_on(async {
        let alice = s3_client_with(&server, &ak, &sk).await;
        let bob = s3_client_with(&server, &bk, &bs).await;
        alice
            .create_bucket()
            .bucket("kept")
            .object_ownership(ObjectOwnership::BucketOwnerPreferred)
            .send()
            .await
            .expect("create");
        let listed = alice.list_buckets().send().await.expect("list");
        assert_eq!(
            listed.owner().and_then(|o| o.id()),
            Some(alice_canonical.as_str())
        );
        alice
            .put_bucket_policy()
            .bucket("kept")
            .policy(&policy)
            .send()
            .await
            .expect("policy");
        alice
            .put_bucket_acl()
            .bucket("kept")
            .grant_read(format!("id=\"{bob_canonical}\""))
            .grant_full_control(format!("id=\"{alice_canonical}\""))
            .send()
            .await
            .expect("bucket acl");
        alice
            .put_public_access_block()
            .bucket("kept")
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_policy(true)
                    .build(),
            )
            .send()
            .await
            .expect("block");
        bob.put_object()
            .bucket("kept")
            .key("public/by-bob")
            .body(ByteStream::from_static(b"bob's"))
            .send()
            .await
            .expect("bob writes under the policy");
        bob.put_object()
            .bucket("kept")
            .key("public/handed-over")
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .body(ByteStream::from_static(b"alice's now"))
            .send()
            .await
            .expect("bob writes, alice owns");
        // An ACL that would make bob the owner, or grant others, needs
        // per-object ACLs: refused, not stored and ignored.
        for acl in [ObjectCannedAcl::Private, ObjectCannedAcl::PublicRead] {
            let e = bob
                .put_object()
                .bucket("kept")
                .key("public/with-acl")
                .acl(acl.clone())
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .expect_err("an object ACL of bob's own");
            assert_eq!(
                code_of(&e.into_service_error()),
                "NotImplemented",
                "{acl:?}"
            );
        }
        let e = bob
            .put_object()
            .bucket("kept")
            .key("elsewhere")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("outside the policy's prefix");
        assert_eq!(code_of(&e.into_service_error()), "AccessDenied");
    });
    server.restart();
    rt().block_on(async {
        let alice = s3_client_with(&server, &ak, &sk).await;
        let bob = s3_client_with(&server, &bk, &bs).await;
        let got = alice
            .get_bucket_policy()
            .bucket("kept")
            .send()
            .await
            .expect("policy kept");
        assert_eq!(got.policy(), Some(policy.as_str()));
        let block = alice
            .get_public_access_block()
            .bucket("kept")
            .send()
            .await
            .expect("block kept");
        let b = block.public_access_block_configuration().expect("config");
        assert_eq!(
            (b.block_public_policy(), b.block_public_acls()),
            (Some(true), Some(false))
        );
        let own = alice
            .get_bucket_ownership_controls()
            .bucket("kept")
            .send()
            .await
            .expect("ownership kept");
        let rules = own.ownership_controls().map(OwnershipControls::rules);
        assert_eq!(
            rules
                .and_then(|r| r.first())
                .map(OwnershipControlsRule::object_ownership),
            Some(&ObjectOwnership::BucketOwnerPreferred)
        );
        // Bucket READ for bob: he lists.
        let listed = bob
            .list_objects_v2()
            .bucket("kept")
            .send()
            .await
            .expect("bob lists");
        assert_eq!(listed.contents().len(), 2);
        // Objects are the bucket owner's (no per-object owners yet), and
        // GetObjectAcl says so.
        let acl = alice
            .get_object_acl()
            .bucket("kept")
            .key("public/by-bob")
            .send()
            .await
            .expect("bob's object's acl");
        assert_eq!(
            acl.owner().and_then(|o| o.id()),
            Some(alice_canonical.as_str())
        );
        assert_eq!(
            common::get_bytes(&alice, "kept", "public/by-bob").await,
            b"bob's"
        );
        assert_eq!(
            common::get_bytes(&alice, "kept", "public/handed-over").await,
            b"alice's now"
        );
        let acl = alice
            .get_object_acl()
            .bucket("kept")
            .key("public/handed-over")
            .send()
            .await
            .expect("handed-over acl");
        assert_eq!(
            acl.owner().and_then(|o| o.id()),
            Some(alice_canonical.as_str())
        );
        // The policy still lets bob read alice's object under public/.
        assert_eq!(
            common::get_bytes(&bob, "kept", "public/handed-over").await,
            b"alice's now"
        );
    });
    // The same ids after the restart.
    let again = api_after_restart(&server);
    assert_eq!(
        again.ok("GET", &format!("credentials/{bob_id}"), None)["canonical_id"],
        bob_canonical.as_str()
    );
    // The admin API shows and sets the same state.
    let shown = again.ok("GET", "buckets/kept/policy", None);
    assert_eq!(shown["is_public"], false);
    assert_eq!(
        shown["policy"],
        serde_json::from_str::<Value>(&policy).expect("json")
    );
    let acl = again.ok("GET", "buckets/kept/acl", None);
    assert_eq!(acl["object_ownership"], "BucketOwnerPreferred");
    assert_eq!(acl["public_access_block"]["block_public_policy"], true);
    assert_eq!(acl["grants"].as_array().map(Vec::len), Some(2));
    // A public policy is refused by the block, through the admin API too.
    let public = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::kept/*"}]}"#;
    let (status, _) = again.call_raw("PUT", "buckets/kept/policy", public.as_bytes());
    assert_eq!(status, 403);
    let (status, _) = again.call_raw("PUT", "buckets/kept/policy", b"{not json");
    assert_eq!(status, 400);
    assert_eq!(
        again.ok("GET", "buckets/kept/policy", None)["policy"],
        serde_json::from_str::<Value>(&policy).expect("json"),
        "refused policies change nothing"
    );
    again.ok(
        "PUT",
        "buckets/kept/acl",
        Some(json!({ "canned": "private" })),
    );
    let acl = again.ok("GET", "buckets/kept/acl", None);
    assert_eq!(
        acl["grants"],
        json!([{ "id": alice_canonical, "permission": "FULL_CONTROL" }])
    );
    again.err(
        "PUT",
        "buckets/kept/acl",
        Some(json!({ "grants": [{ "id": "ab".repeat(32), "permission": "READ" }] })),
        400,
    );
    again.ok("DELETE", "buckets/kept/policy", None);
    assert_eq!(
        again.ok("GET", "buckets/kept/policy", None)["policy"],
        Value::Null
    );
}

fn api_after_restart(server: &Server) -> Api<'_> {
    Api::new(server)
}

impl Api<'_> {
    /// A call whose body is not JSON (a policy document as the client wrote it).
    fn call_raw(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let auth = format!("Bearer {}", self.key);
        let r = raw(
            self.server,
            method,
            &format!("/_admin/api/v1/{path}"),
            &[("authorization", &auth)],
            body,
        );
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }
}
