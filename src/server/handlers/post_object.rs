//! POST Object: a browser's HTML form upload. The fields before the file
//! are read (bounded), the form's policy and signature checked
//! (`auth::post_policy`), and the fields become the headers of a PutObject
//! request whose body is the form's file, streamed by the body reader's
//! form stage: from there on it is PutObject's own code (access control,
//! versioning, SSE, tagging, checksums, durability), not a copy of it.

use super::object;
use crate::auth::post_policy::{self, Form, PostGrant};
use crate::auth::{uri_encode, AuthConfig};
use crate::http::multipart::{self, FileDecoder, FormError, FormField, HeadStatus};
use crate::http::parse_head;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::query::Query;
use crate::s3::router::Operation;
use crate::s3::xml;
use crate::server::body::BodyReader;
use crate::server::conn::Conn;
use crate::server::request::{body_error, CatalogSecrets, Principal, Req};
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use bytes::{Bytes, BytesMut};
use std::rc::Rc;

/// Fields that sign the form or shape its answer: no header of the upload.
const NOT_HEADERS: [&str; 5] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-signature",
    "x-amz-security-token",
];
/// PutObject's headers that are form fields of the same name.
const CONTENT_HEADERS: [&str; 7] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-md5",
    "content-type",
    "expires",
];

pub async fn post(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = req.bucket.clone().unwrap_or_default();
    let boundary = req
        .header("content-type")
        .and_then(multipart::boundary)
        .ok_or(FormError::NotMultipart)?;
    req.send_continue(conn).await.map_err(body_error)?;
    let (head, rest) = read_form_head(conn, body, boundary.as_bytes()).await?;
    let fields = expand_filename(head.fields, head.file.filename.as_deref());
    let form = Form { fields: &fields };
    let key = form
        .get("key")
        .filter(|k| !k.is_empty())
        .ok_or(post_policy::PostPolicyError::MissingField("key"))?
        .to_string();
    let grant = authorize(ctx, &form, &bucket)?;
    let principal = match &grant.access_key {
        None => Principal::Anonymous,
        // A key removed since the check: refused, never made anonymous.
        Some(ak) => ctx
            .with_catalog(|c| c.credential_by_access_key(ak).map(|c| c.id))
            .map(|id| Principal::User { id })
            .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?,
    };
    let mut upload = upload_request(req, &fields, key.clone(), principal)?;
    super::protection::refuse_object_lock(&upload)?;
    body.begin_form_file(
        FileDecoder::new(boundary.as_bytes()),
        rest,
        grant.min_bytes,
        grant.max_bytes,
    )
    .map_err(body_error)?;
    let put = object::put(ctx, conn, &mut upload, body).await?;
    Ok(answer(req, &form, &bucket, &key, put))
}

/// Reads the body until the form's fields and the file's part headers are
/// in; returns them and the body bytes already read past them.
async fn read_form_head(
    conn: &mut Conn,
    body: &mut BodyReader,
    boundary: &[u8],
) -> Result<(multipart::FormHead, Bytes), S3Error> {
    let mut buf = BytesMut::new();
    loop {
        if let HeadStatus::Complete(head) = multipart::parse_form_head(&buf, boundary)? {
            let rest = buf.split_off(head.len).freeze();
            return Ok((head, rest));
        }
        match body.next(conn).await.map_err(body_error)? {
            Some(piece) => buf.extend_from_slice(&piece),
            None => {
                // The body ended inside the fields.
                return Err(match multipart::parse_form_head(&buf, boundary)? {
                    HeadStatus::Partial if buf.is_empty() => FormError::NoFile.into(),
                    _ => FormError::Malformed("the body ends before the file").into(),
                });
            }
        }
    }
}

/// `${filename}` in the key stands for the file's name without the
/// directories a browser may send ("C:\dir\photo.jpg" is "photo.jpg");
/// as on S3, only the key is expanded (metadata keeps the text as sent).
fn expand_filename(fields: Vec<FormField>, filename: Option<&str>) -> Vec<FormField> {
    let name = filename
        .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
        .unwrap_or("");
    fields
        .into_iter()
        .map(|f| {
            if f.name.eq_ignore_ascii_case("key") {
                FormField {
                    value: f.value.replace("${filename}", name),
                    name: f.name,
                }
            } else {
                f
            }
        })
        .collect()
}

fn authorize(ctx: &ShardCtx, form: &Form, bucket: &str) -> Result<PostGrant, S3Error> {
    let cfg = AuthConfig {
        region: &ctx.config.region,
        now: crate::util::time::unix_now(),
        max_skew_secs: crate::server::config::MAX_CLOCK_SKEW_SECS,
        allow_sigv2: ctx.config.allow_sigv2,
    };
    let catalog = ctx.catalog();
    let lookup = CatalogSecrets(&catalog.catalog);
    let mut cache = ctx.sig_cache.borrow_mut();
    Ok(post_policy::authorize(
        form, bucket, &lookup, &cfg, &mut cache,
    )?)
}

/// The PutObject request the form stands for: its fields as headers
/// (`acl` as `x-amz-acl`, `tagging`'s XML as `x-amz-tagging`), nothing of
/// the POST's own headers, no signed payload (the policy bounds the file).
fn upload_request(
    req: &Req,
    fields: &[FormField],
    key: String,
    principal: Principal,
) -> Result<Req, S3Error> {
    let mut head = String::from("POST / HTTP/1.1\r\n");
    for f in fields {
        let lower = f.name.to_ascii_lowercase();
        let (name, value) = match lower.as_str() {
            "acl" => ("x-amz-acl".to_string(), f.value.clone()),
            "tagging" => ("x-amz-tagging".to_string(), tagging_header(&f.value)?),
            n if CONTENT_HEADERS.contains(&n) => (lower.clone(), f.value.clone()),
            n if n.starts_with("x-amz-") && !NOT_HEADERS.contains(&n) => {
                (lower.clone(), f.value.clone())
            }
            _ => continue,
        };
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_name || value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("A form field holds a value no header can carry.")
                .with("ArgumentName", f.name.clone()));
        }
        head.push_str(&name);
        head.push_str(": ");
        head.push_str(&value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut buf = BytesMut::from(head.as_bytes());
    let parsed = match parse_head(&mut buf) {
        Ok(Some(h)) => h,
        Ok(None) | Err(_) => return Err(FormError::HeadTooLarge.into()),
    };
    debug_assert!(buf.is_empty());
    Ok(Req {
        head: parsed,
        id: req.id.clone(),
        bucket: req.bucket.clone(),
        key: Some(key),
        query: Query::parse("")?,
        op: Operation::PostObject,
        principal,
        auth: None,
        expect_continue: false,
        secure: req.secure,
        source_ip: req.source_ip,
    })
}

/// The `tagging` field's `<Tagging>` document as `x-amz-tagging` (URL query form).
fn tagging_header(document: &str) -> Result<String, S3Error> {
    let tags = xml::parse_tagging(document.as_bytes())?;
    let mut out = String::new();
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        uri_encode(k.as_bytes(), true, &mut out);
        out.push('=');
        uri_encode(v.as_bytes(), true, &mut out);
    }
    Ok(out)
}

/// The answer to a stored upload, as the form asks: a 303 to
/// `success_action_redirect` (or the older `redirect`) with bucket, key and
/// ETag appended, if it is an http(s) URL; else `success_action_status` 200
/// (empty), 201 (a PostResponse document) or 204, the default and the
/// answer to any other value. PutObject's headers (ETag, version id, SSE,
/// checksum) stay.
fn answer(req: &Req, form: &Form, bucket: &str, key: &str, put: Response) -> Response {
    let etag = put
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("etag"))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let location = object_url(req, bucket, key);
    let redirect = form
        .get("success_action_redirect")
        .or_else(|| form.get("redirect"))
        .and_then(|url| redirect_url(url, bucket, key, &etag));
    let mut resp = match (redirect, form.get("success_action_status")) {
        (Some(url), _) => Response::new(303).header("Location", url),
        (None, Some("201")) => {
            let doc = xml::post_response(&location, bucket, key, &etag);
            Response::xml(201, doc).header("Location", location)
        }
        (None, Some("200")) => Response::new(200).header("Location", location),
        (None, _) => Response::new(204).header("Location", location),
    };
    resp.headers.extend(put.headers);
    resp
}

/// The object's URL as the client addressed the bucket.
fn object_url(req: &Req, bucket: &str, key: &str) -> String {
    let scheme = if req.secure { "https" } else { "http" };
    let host = req.header("host").unwrap_or("localhost");
    let mut url = format!("{scheme}://{host}/");
    let path_style = !req.head.raw_path().trim_start_matches('/').is_empty();
    if path_style {
        uri_encode(bucket.as_bytes(), true, &mut url);
        url.push('/');
    }
    uri_encode(key.as_bytes(), true, &mut url);
    url
}

/// `url` with `bucket`, `key` and `etag` appended to its query, each
/// form-encoded; None for a URL S3 would not follow (not absolute http(s),
/// or holding what a Location header cannot carry).
fn redirect_url(url: &str, bucket: &str, key: &str, etag: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if !web || host.is_empty() || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = String::from(base);
    out.push(if base.contains('?') { '&' } else { '?' });
    for (i, (name, value)) in [("bucket", bucket), ("key", key), ("etag", etag)]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        form_encode(&mut out, value);
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Some(out)
}

/// `application/x-www-form-urlencoded` of a value: a space is `+`.
fn form_encode(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_as_s3_appends_them() {
        assert_eq!(
            redirect_url("http://a.example/done.html", "b", "dir/a b.txt", "\"e1\"").as_deref(),
            Some("http://a.example/done.html?bucket=b&key=dir%2Fa+b.txt&etag=%22e1%22")
        );
        assert_eq!(
            redirect_url("https://a.example/?x=1#top", "b", "k", "\"e\"").as_deref(),
            Some("https://a.example/?x=1&bucket=b&key=k&etag=%22e%22#top")
        );
        assert_eq!(redirect_url("/relative", "b", "k", "e"), None);
        assert_eq!(redirect_url("ftp://a.example/", "b", "k", "e"), None);
        assert_eq!(redirect_url("http:///nohost", "b", "k", "e"), None);
        assert_eq!(
            redirect_url("http://a.example/\r\nX: y", "b", "k", "e"),
            None
        );
    }

    #[test]
    fn filename_expands_without_directories() {
        let f = |v: &str| FormField {
            name: "key".into(),
            value: v.into(),
        };
        let out = expand_filename(vec![f("up/${filename}")], Some("C:\\Users\\me\\photo.jpg"));
        assert_eq!(out[0].value, "up/photo.jpg");
        let out = expand_filename(vec![f("${filename}")], None);
        assert_eq!(out[0].value, "");
        let meta = FormField {
            name: "x-amz-meta-note".into(),
            value: "${filename}".into(),
        };
        let out = expand_filename(vec![f("K/${filename}"), meta.clone()], Some("a.txt"));
        assert_eq!((out[0].value.as_str(), &out[1]), ("K/a.txt", &meta));
    }
}
