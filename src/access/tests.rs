//! The evaluator against S3's documented rules, case by case, and a
//! property: an explicit Deny that matches a request is never overridden.

use super::acl::*;
use super::context::{AuthType, RequestContext, RequestFacts};
use super::evaluate::{decide, AccessRequest, BucketAccess, Decision};
use super::policy::Policy;
use super::principal::{derive_canonical_id, Requester, UserIdentity};
use super::Action;
use std::collections::HashMap;

const BUCKET: &str = "photos";
/// 2024-01-01T00:00:00Z.
const NOW_MS: i64 = 1_704_067_200_000;

fn user(id: u64, name: &str) -> UserIdentity {
    UserIdentity {
        credential_id: id,
        canonical_id: derive_canonical_id(id),
        user_name: name.to_string(),
        access_key: format!("KEY{id}"),
        is_root: id == 1,
    }
}

#[derive(Default)]
struct Facts {
    headers: HashMap<&'static str, &'static str>,
    query: HashMap<&'static str, &'static str>,
    request_tags: Vec<(String, String)>,
    existing_tags: Vec<(String, String)>,
}

impl RequestFacts for Facts {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).copied()
    }
    fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).copied()
    }
    fn request_tags(&self) -> &[(String, String)] {
        &self.request_tags
    }
    fn existing_tags(&self) -> &[(String, String)] {
        &self.existing_tags
    }
}

/// Who asks in a case.
#[derive(Clone, Copy, Debug)]
enum Who {
    Root,
    Owner,
    Alice,
    Bob,
    Anon,
}

struct World {
    root: UserIdentity,
    owner: UserIdentity,
    alice: UserIdentity,
    bob: UserIdentity,
}

impl World {
    fn new() -> World {
        World {
            root: user(1, "root"),
            owner: user(2, "owner"),
            alice: user(3, "alice"),
            bob: user(4, "bob"),
        }
    }
    fn requester(&self, who: Who) -> Requester<'_> {
        match who {
            Who::Root => Requester::User(&self.root),
            Who::Owner => Requester::User(&self.owner),
            Who::Alice => Requester::User(&self.alice),
            Who::Bob => Requester::User(&self.bob),
            Who::Anon => Requester::Anonymous,
        }
    }
    fn id(&self, who: Who) -> String {
        self.requester(who).canonical_id().unwrap_or("").to_string()
    }
}

/// One case: the bucket's state, the request, the expected decision.
struct Case {
    name: &'static str,
    policy: Option<String>,
    /// (grantee, permission) on the bucket; grantee is a Who or a group.
    bucket_grants: Vec<(Grantee0, Permission)>,
    ownership: ObjectOwnership,
    block: PublicAccessBlock,
    who: Who,
    action: Action,
    key: Option<&'static str>,
    /// The object's owner and grants (None: bucket owner, private).
    object: Option<(Who, Vec<(Grantee0, Permission)>)>,
    facts: Facts,
    secure: bool,
    ip: Option<&'static str>,
    auth: AuthType,
    want: Decision,
}

#[derive(Clone, Copy, Debug)]
enum Grantee0 {
    U(Who),
    G(Group),
}

impl Default for Case {
    fn default() -> Case {
        Case {
            name: "",
            policy: None,
            bucket_grants: Vec::new(),
            ownership: ObjectOwnership::ObjectWriter,
            block: PublicAccessBlock::default(),
            who: Who::Alice,
            action: Action::GetObject,
            key: Some("k"),
            object: None,
            facts: Facts::default(),
            secure: false,
            ip: None,
            auth: AuthType::Header,
            want: Decision::ImplicitDeny,
        }
    }
}

fn grants(w: &World, g: &[(Grantee0, Permission)]) -> Vec<Grant> {
    g.iter()
        .map(|(who, p)| match who {
            Grantee0::U(u) => Grant::user(&w.id(*u), *p),
            Grantee0::G(group) => Grant::group(*group, *p),
        })
        .collect()
}

fn run(w: &World, c: &Case) -> Decision {
    let policy = c.policy.as_ref().map(|p| {
        Policy::compile(p, BUCKET).unwrap_or_else(|e| panic!("{}: policy refused: {e}", c.name))
    });
    let bucket_grants = grants(w, &c.bucket_grants);
    let owner_id = w.id(Who::Owner);
    let bucket = BucketAccess {
        name: BUCKET,
        owner_account: 2,
        owner_canonical: &owner_id,
        policy: policy.as_ref(),
        grants: &bucket_grants,
        ownership: c.ownership,
        block: c.block,
    };
    let object_acl = c.object.as_ref().map(|(o, g)| ObjectAcl {
        owner: w.id(*o),
        grants: grants(w, g),
    });
    let ctx = RequestContext {
        source_ip: c.ip.map(|ip| ip.parse().unwrap()),
        secure_transport: c.secure,
        now_millis: NOW_MS,
        auth_type: c.auth,
        signature_version: Some("AWS4-HMAC-SHA256"),
        signature_age_millis: Some(1500),
        facts: &c.facts,
    };
    let req = AccessRequest {
        requester: w.requester(c.who),
        action: c.action,
        key: c.key,
        object_acl: object_acl.as_ref(),
        context: &ctx,
    };
    decide(&bucket, &req)
}

/// A one-statement policy.
fn stmt(effect: &str, principal: &str, action: &str, resource: &str, cond: &str) -> String {
    let cond = if cond.is_empty() {
        String::new()
    } else {
        format!(r#","Condition":{cond}"#)
    };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Principal":{principal},"Action":{action},"Resource":{resource}{cond}}}]}}"#
    )
}

/// Allow everyone `s3:GetObject` on every object when `cond` holds.
fn get_if(cond: &str) -> Option<String> {
    Some(stmt(
        "Allow",
        r#""*""#,
        r#""s3:GetObject""#,
        r#""arn:aws:s3:::photos/*""#,
        cond,
    ))
}

fn headers(h: &[(&'static str, &'static str)]) -> Facts {
    Facts {
        headers: h.iter().copied().collect(),
        ..Facts::default()
    }
}

fn query(q: &[(&'static str, &'static str)]) -> Facts {
    Facts {
        query: q.iter().copied().collect(),
        ..Facts::default()
    }
}

fn tags(t: &[(&str, &str)]) -> Vec<(String, String)> {
    t.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

use Decision::{Allow, ExplicitDeny as Deny, ImplicitDeny as NoAllow};

fn cases() -> Vec<Case> {
    let alice_arn = r#"{"AWS":"arn:aws:iam::000000000003:user/alice"}"#;
    let deny_all_alice = stmt(
        "Deny",
        alice_arn,
        r#""s3:*""#,
        r#"["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]"#,
        "",
    );
    let owner_only = || ObjectOwnership::BucketOwnerEnforced;
    vec![
        // Ownership and the implicit rights of owners.
        Case { name: "bucket owner reads its object", who: Who::Owner, want: Allow, ..Case::default() },
        Case { name: "root reads anything", who: Who::Root, want: Allow, ..Case::default() },
        Case { name: "stranger without grants", who: Who::Alice, want: NoAllow, ..Case::default() },
        Case { name: "anonymous without grants", who: Who::Anon, want: NoAllow, ..Case::default() },
        Case { name: "root ignores a deny", who: Who::Root, policy: Some(stmt("Deny", r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        // Policy precedence.
        Case { name: "policy allows a principal by user ARN", policy: Some(stmt("Allow", alice_arn, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        Case { name: "policy allow for alice is not for bob", who: Who::Bob, policy: Some(stmt("Allow", alice_arn, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: NoAllow, ..Case::default() },
        Case { name: "allow by account root ARN", policy: Some(stmt("Allow", r#"{"AWS":"arn:aws:iam::000000000003:root"}"#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        Case { name: "allow by bare account id", policy: Some(stmt("Allow", r#"{"AWS":["000000000003"]}"#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        Case { name: "allow by access key", policy: Some(stmt("Allow", r#"{"AWS":"KEY3"}"#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        Case { name: "explicit deny beats allow in another statement", policy: Some(format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}},{{"Effect":"Deny","Principal":{alice_arn},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}]}}"#)), want: Deny, ..Case::default() },
        Case { name: "explicit deny beats an ACL grant", policy: Some(deny_all_alice.clone()), object: Some((Who::Owner, vec![(Grantee0::U(Who::Alice), Permission::Read)])), want: Deny, ..Case::default() },
        Case { name: "explicit deny binds the bucket owner", who: Who::Owner, policy: Some(stmt("Deny", r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: Deny, ..Case::default() },
        Case { name: "bucket owner keeps PutBucketPolicy despite a deny", who: Who::Owner, action: Action::PutBucketPolicy, key: None, policy: Some(stmt("Deny", r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::photos""#, "")), want: Allow, ..Case::default() },
        Case { name: "bucket owner keeps DeleteBucketPolicy despite a deny", who: Who::Owner, action: Action::DeleteBucketPolicy, key: None, policy: Some(stmt("Deny", r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::photos""#, "")), want: Allow, ..Case::default() },
        Case { name: "others get no such exception", who: Who::Alice, action: Action::PutBucketPolicy, key: None, policy: Some(stmt("Deny", r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::photos""#, "")), want: Deny, ..Case::default() },
        Case { name: "principal * includes anonymous", who: Who::Anon, policy: get_if(""), want: Allow, ..Case::default() },
        Case { name: "AWS * includes anonymous", who: Who::Anon, policy: Some(stmt("Allow", r#"{"AWS":"*"}"#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        Case { name: "canonical user principal", policy: Some(stmt("Allow", &format!(r#"{{"CanonicalUser":"{}"}}"#, user(3, "alice").canonical_id), r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        // NotPrincipal / NotAction / NotResource.
        Case { name: "NotPrincipal denies everyone else", who: Who::Bob, policy: Some(format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}},{{"Effect":"Deny","NotPrincipal":{alice_arn},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}]}}"#)), want: Deny, ..Case::default() },
        Case { name: "NotPrincipal spares the named", who: Who::Alice, policy: Some(format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}},{{"Effect":"Deny","NotPrincipal":{alice_arn},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}]}}"#)), want: Allow, ..Case::default() },
        Case { name: "NotAction allows all but the named", action: Action::PutObject, policy: Some(r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"s3:DeleteObject","Resource":"arn:aws:s3:::photos/*"}]}"#.into()), want: Allow, ..Case::default() },
        Case { name: "NotAction leaves the named out", action: Action::DeleteObject, policy: Some(r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"s3:DeleteObject","Resource":"arn:aws:s3:::photos/*"}]}"#.into()), want: NoAllow, ..Case::default() },
        Case { name: "NotResource denies outside a prefix", key: Some("private/x"), policy: Some(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"},{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::photos/public/*"}]}"#.into()), want: Deny, ..Case::default() },
        Case { name: "NotResource spares the prefix", key: Some("public/x"), policy: Some(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"},{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::photos/public/*"}]}"#.into()), want: Allow, ..Case::default() },
        // Action and resource wildcards.
        Case { name: "action wildcard s3:Get*", action: Action::GetObjectTagging, policy: Some(stmt("Allow", r#""*""#, r#""s3:Get*""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        Case { name: "resource prefix matches", key: Some("public/a.jpg"), who: Who::Anon, policy: Some(stmt("Allow", r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/public/*""#, "")), want: Allow, ..Case::default() },
        Case { name: "resource prefix excludes others", key: Some("private/a.jpg"), who: Who::Anon, policy: Some(stmt("Allow", r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/public/*""#, "")), want: NoAllow, ..Case::default() },
        Case { name: "bucket resource for ListBucket", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:ListBucket""#, r#""arn:aws:s3:::photos""#, "")), want: Allow, ..Case::default() },
        Case { name: "object resource does not cover the bucket", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::photos/*""#, "")), want: NoAllow, ..Case::default() },
        // Condition operators and keys.
        Case { name: "StringEquals on s3:x-amz-acl", action: Action::PutObject, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}"#)), facts: headers(&[("x-amz-acl", "bucket-owner-full-control")]), want: Allow, ..Case::default() },
        Case { name: "StringEquals absent key fails", action: Action::PutObject, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}"#)), want: NoAllow, ..Case::default() },
        Case { name: "deny PUT without SSE (StringNotEquals, header absent)", who: Who::Owner, action: Action::PutObject, policy: Some(stmt("Deny", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringNotEquals":{"s3:x-amz-server-side-encryption":"AES256"}}"#)), want: Deny, ..Case::default() },
        Case { name: "deny PUT without SSE spares AES256", who: Who::Owner, action: Action::PutObject, policy: Some(stmt("Deny", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringNotEquals":{"s3:x-amz-server-side-encryption":"AES256"}}"#)), facts: headers(&[("x-amz-server-side-encryption", "AES256")]), want: Allow, ..Case::default() },
        Case { name: "Null true on absent header", who: Who::Owner, action: Action::PutObject, policy: Some(stmt("Deny", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#)), want: Deny, ..Case::default() },
        Case { name: "Null true spares a present header", who: Who::Owner, action: Action::PutObject, policy: Some(stmt("Deny", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#)), facts: headers(&[("x-amz-server-side-encryption", "aws:kms")]), want: Allow, ..Case::default() },
        Case { name: "StringEqualsIgnoreCase", policy: get_if(r#"{"StringEqualsIgnoreCase":{"aws:UserAgent":"MYTOOL/1.0"}}"#), facts: headers(&[("user-agent", "mytool/1.0")]), want: Allow, ..Case::default() },
        Case { name: "StringNotEqualsIgnoreCase", policy: get_if(r#"{"StringNotEqualsIgnoreCase":{"aws:UserAgent":"MYTOOL/1.0"}}"#), facts: headers(&[("user-agent", "mytool/1.0")]), want: NoAllow, ..Case::default() },
        Case { name: "StringLike on aws:Referer", who: Who::Anon, policy: get_if(r#"{"StringLike":{"aws:Referer":["https://www.example.com/*"]}}"#), facts: headers(&[("referer", "https://www.example.com/page")]), want: Allow, ..Case::default() },
        Case { name: "StringLike referer mismatch", who: Who::Anon, policy: get_if(r#"{"StringLike":{"aws:Referer":["https://www.example.com/*"]}}"#), facts: headers(&[("referer", "https://evil.example/")]), want: NoAllow, ..Case::default() },
        Case { name: "StringNotLike", policy: get_if(r#"{"StringNotLike":{"aws:Referer":"https://evil*"}}"#), facts: headers(&[("referer", "https://good/")]), want: Allow, ..Case::default() },
        Case { name: "StringNotLike absent key holds", policy: get_if(r#"{"StringNotLike":{"aws:Referer":"https://evil*"}}"#), want: Allow, ..Case::default() },
        Case { name: "s3:prefix on ListBucket", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:ListBucket""#, r#""arn:aws:s3:::photos""#, r#"{"StringLike":{"s3:prefix":["home/alice/*"]}}"#)), facts: query(&[("prefix", "home/alice/docs")]), want: Allow, ..Case::default() },
        Case { name: "s3:prefix other prefix", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:ListBucket""#, r#""arn:aws:s3:::photos""#, r#"{"StringLike":{"s3:prefix":["home/alice/*"]}}"#)), facts: query(&[("prefix", "home/bob/")]), want: NoAllow, ..Case::default() },
        Case { name: "s3:delimiter", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:ListBucket""#, r#""arn:aws:s3:::photos""#, r#"{"StringEquals":{"s3:delimiter":"/"}}"#)), facts: query(&[("delimiter", "/")]), want: Allow, ..Case::default() },
        Case { name: "NumericLessThanEquals s3:max-keys", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:ListBucket""#, r#""arn:aws:s3:::photos""#, r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#)), facts: query(&[("max-keys", "10")]), want: Allow, ..Case::default() },
        Case { name: "NumericLessThan s3:max-keys too many", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:ListBucket""#, r#""arn:aws:s3:::photos""#, r#"{"NumericLessThan":{"s3:max-keys":10}}"#)), facts: query(&[("max-keys", "10")]), want: NoAllow, ..Case::default() },
        Case { name: "NumericGreaterThan", policy: get_if(r#"{"NumericGreaterThan":{"s3:signatureAge":1000}}"#), want: Allow, ..Case::default() },
        Case { name: "NumericGreaterThanEquals", policy: get_if(r#"{"NumericGreaterThanEquals":{"s3:signatureAge":1501}}"#), want: NoAllow, ..Case::default() },
        Case { name: "NumericEquals", policy: get_if(r#"{"NumericEquals":{"s3:signatureAge":1500}}"#), want: Allow, ..Case::default() },
        Case { name: "NumericNotEquals", policy: get_if(r#"{"NumericNotEquals":{"s3:signatureAge":1500}}"#), want: NoAllow, ..Case::default() },
        Case { name: "Numeric on non-number fails", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:ListBucket""#, r#""arn:aws:s3:::photos""#, r#"{"NumericLessThan":{"s3:max-keys":10}}"#)), facts: query(&[("max-keys", "ten")]), want: NoAllow, ..Case::default() },
        Case { name: "DateLessThan aws:CurrentTime", policy: get_if(r#"{"DateLessThan":{"aws:CurrentTime":"2024-06-01T00:00:00Z"}}"#), want: Allow, ..Case::default() },
        Case { name: "DateGreaterThan aws:CurrentTime", policy: get_if(r#"{"DateGreaterThan":{"aws:CurrentTime":"2024-06-01T00:00:00Z"}}"#), want: NoAllow, ..Case::default() },
        Case { name: "DateEquals with epoch", policy: get_if(r#"{"DateEquals":{"aws:EpochTime":"1704067200"}}"#), want: Allow, ..Case::default() },
        Case { name: "DateNotEquals", policy: get_if(r#"{"DateNotEquals":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#), want: NoAllow, ..Case::default() },
        Case { name: "DateLessThanEquals", policy: get_if(r#"{"DateLessThanEquals":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#), want: Allow, ..Case::default() },
        Case { name: "DateGreaterThanEquals", policy: get_if(r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-01-01"}}"#), want: Allow, ..Case::default() },
        Case { name: "NumericLessThan aws:EpochTime", policy: get_if(r#"{"NumericLessThan":{"aws:EpochTime":1704067201}}"#), want: Allow, ..Case::default() },
        Case { name: "Bool aws:SecureTransport false denies plain HTTP", who: Who::Owner, policy: Some(stmt("Deny", r#""*""#, r#""s3:*""#, r#"["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]"#, r#"{"Bool":{"aws:SecureTransport":"false"}}"#)), want: Deny, ..Case::default() },
        Case { name: "Bool aws:SecureTransport over TLS", who: Who::Owner, secure: true, policy: Some(stmt("Deny", r#""*""#, r#""s3:*""#, r#"["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]"#, r#"{"Bool":{"aws:SecureTransport":false}}"#)), want: Allow, ..Case::default() },
        Case { name: "IpAddress inside", who: Who::Anon, ip: Some("192.0.2.10"), policy: get_if(r#"{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]}}"#), want: Allow, ..Case::default() },
        Case { name: "IpAddress outside", who: Who::Anon, ip: Some("198.51.100.1"), policy: get_if(r#"{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#), want: NoAllow, ..Case::default() },
        Case { name: "IpAddress IPv6", who: Who::Anon, ip: Some("2001:db8::5"), policy: get_if(r#"{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]}}"#), want: Allow, ..Case::default() },
        Case { name: "NotIpAddress denies outsiders", who: Who::Owner, ip: Some("198.51.100.1"), policy: Some(stmt("Deny", r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::photos/*""#, r#"{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#)), want: Deny, ..Case::default() },
        Case { name: "NotIpAddress spares insiders", who: Who::Owner, ip: Some("192.0.2.1"), policy: Some(stmt("Deny", r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::photos/*""#, r#"{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#)), want: Allow, ..Case::default() },
        Case { name: "ArnLike aws:PrincipalArn", policy: get_if(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::000000000003:user/*"}}"#), want: Allow, ..Case::default() },
        Case { name: "ArnNotLike aws:PrincipalArn", policy: get_if(r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::000000000003:user/*"}}"#), want: NoAllow, ..Case::default() },
        Case { name: "ArnEquals", policy: get_if(r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::000000000003:user/alice"}}"#), want: Allow, ..Case::default() },
        Case { name: "aws:PrincipalType anonymous", who: Who::Anon, policy: get_if(r#"{"StringEquals":{"aws:PrincipalType":"Anonymous"}}"#), want: Allow, ..Case::default() },
        Case { name: "aws:PrincipalType user", policy: get_if(r#"{"StringEquals":{"aws:PrincipalType":"User"}}"#), want: Allow, ..Case::default() },
        Case { name: "aws:username", policy: get_if(r#"{"StringEquals":{"aws:username":"alice"}}"#), want: Allow, ..Case::default() },
        Case { name: "aws:username for anonymous is absent", who: Who::Anon, policy: get_if(r#"{"StringEquals":{"aws:username":"alice"}}"#), want: NoAllow, ..Case::default() },
        Case { name: "aws:userid is the canonical id", policy: get_if(&format!(r#"{{"StringEquals":{{"aws:userid":"{}"}}}}"#, user(3, "").canonical_id)), want: Allow, ..Case::default() },
        Case { name: "aws:PrincipalAccount", policy: get_if(r#"{"StringEquals":{"aws:PrincipalAccount":"000000000003"}}"#), want: Allow, ..Case::default() },
        Case { name: "s3:ResourceAccount", policy: get_if(r#"{"StringEquals":{"s3:ResourceAccount":"000000000002"}}"#), want: Allow, ..Case::default() },
        Case { name: "s3:authType presigned", auth: AuthType::QueryString, policy: get_if(r#"{"StringEquals":{"s3:authType":"REST-QUERY-STRING"}}"#), want: Allow, ..Case::default() },
        Case { name: "s3:authType header", policy: get_if(r#"{"StringEquals":{"s3:authType":"REST-QUERY-STRING"}}"#), want: NoAllow, ..Case::default() },
        Case { name: "s3:signatureversion", policy: get_if(r#"{"StringEquals":{"s3:signatureversion":"AWS4-HMAC-SHA256"}}"#), want: Allow, ..Case::default() },
        Case { name: "s3:x-amz-content-sha256", policy: get_if(r#"{"StringNotEquals":{"s3:x-amz-content-sha256":"UNSIGNED-PAYLOAD"}}"#), facts: headers(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]), want: NoAllow, ..Case::default() },
        Case { name: "s3:x-amz-copy-source", action: Action::PutObject, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringLike":{"s3:x-amz-copy-source":"photos/public/*"}}"#)), facts: headers(&[("x-amz-copy-source", "photos/public/a")]), want: Allow, ..Case::default() },
        Case { name: "s3:x-amz-metadata-directive", action: Action::PutObject, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringEquals":{"s3:x-amz-metadata-directive":"COPY"}}"#)), facts: headers(&[("x-amz-metadata-directive", "REPLACE")]), want: NoAllow, ..Case::default() },
        Case { name: "s3:x-amz-grant-read", action: Action::PutObject, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringLike":{"s3:x-amz-grant-read":"*AllUsers*"}}"#)), facts: headers(&[("x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")]), want: Allow, ..Case::default() },
        Case { name: "s3:VersionId", action: Action::GetObjectVersion, policy: Some(stmt("Allow", r#""*""#, r#""s3:GetObjectVersion""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringEquals":{"s3:VersionId":"null"}}"#)), facts: query(&[("versionId", "null")]), want: Allow, ..Case::default() },
        Case { name: "s3:ExistingObjectTag", policy: get_if(r#"{"StringEquals":{"s3:ExistingObjectTag/class":"public"}}"#), facts: Facts { existing_tags: tags(&[("class", "public")]), ..Facts::default() }, want: Allow, ..Case::default() },
        Case { name: "s3:ExistingObjectTag other value", policy: get_if(r#"{"StringEquals":{"s3:ExistingObjectTag/class":"public"}}"#), facts: Facts { existing_tags: tags(&[("class", "secret")]), ..Facts::default() }, want: NoAllow, ..Case::default() },
        Case { name: "s3:RequestObjectTag", action: Action::PutObjectTagging, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObjectTagging""#, r#""arn:aws:s3:::photos/*""#, r#"{"StringEquals":{"s3:RequestObjectTag/team":"blue"}}"#)), facts: Facts { request_tags: tags(&[("team", "blue")]), ..Facts::default() }, want: Allow, ..Case::default() },
        // IfExists.
        Case { name: "IfExists with the key absent holds", policy: get_if(r#"{"StringEqualsIfExists":{"aws:Referer":"https://a/"}}"#), want: Allow, ..Case::default() },
        Case { name: "IfExists with the key present compares", policy: get_if(r#"{"StringEqualsIfExists":{"aws:Referer":"https://a/"}}"#), facts: headers(&[("referer", "https://b/")]), want: NoAllow, ..Case::default() },
        Case { name: "NumericLessThanIfExists absent", action: Action::ListBucket, key: None, policy: Some(stmt("Allow", r#""*""#, r#""s3:ListBucket""#, r#""arn:aws:s3:::photos""#, r#"{"NumericLessThanIfExists":{"s3:max-keys":10}}"#)), want: Allow, ..Case::default() },
        // ForAnyValue / ForAllValues.
        Case { name: "ForAllValues: every tag key allowed", action: Action::PutObjectTagging, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObjectTagging""#, r#""arn:aws:s3:::photos/*""#, r#"{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["team","env"]}}"#)), facts: Facts { request_tags: tags(&[("team", "a"), ("env", "b")]), ..Facts::default() }, want: Allow, ..Case::default() },
        Case { name: "ForAllValues: one key not allowed", action: Action::PutObjectTagging, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObjectTagging""#, r#""arn:aws:s3:::photos/*""#, r#"{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["team","env"]}}"#)), facts: Facts { request_tags: tags(&[("team", "a"), ("cost", "b")]), ..Facts::default() }, want: NoAllow, ..Case::default() },
        Case { name: "ForAllValues: no tags at all holds", action: Action::PutObjectTagging, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObjectTagging""#, r#""arn:aws:s3:::photos/*""#, r#"{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["team"]}}"#)), want: Allow, ..Case::default() },
        Case { name: "ForAnyValue: one key matches", action: Action::PutObjectTagging, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObjectTagging""#, r#""arn:aws:s3:::photos/*""#, r#"{"ForAnyValue:StringLike":{"s3:RequestObjectTagKeys":["te*"]}}"#)), facts: Facts { request_tags: tags(&[("cost", "a"), ("team", "b")]), ..Facts::default() }, want: Allow, ..Case::default() },
        Case { name: "ForAnyValue: no tags fails", action: Action::PutObjectTagging, policy: Some(stmt("Allow", r#""*""#, r#""s3:PutObjectTagging""#, r#""arn:aws:s3:::photos/*""#, r#"{"ForAnyValue:StringLike":{"s3:RequestObjectTagKeys":["te*"]}}"#)), want: NoAllow, ..Case::default() },
        Case { name: "conditions are ANDed", who: Who::Anon, ip: Some("192.0.2.1"), policy: get_if(r#"{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"},"Bool":{"aws:SecureTransport":"true"}}"#), want: NoAllow, ..Case::default() },
        // Bucket ACLs.
        Case { name: "bucket READ grant lets a user list", action: Action::ListBucket, key: None, bucket_grants: vec![(Grantee0::U(Who::Alice), Permission::Read)], want: Allow, ..Case::default() },
        Case { name: "bucket READ grant does not read objects", bucket_grants: vec![(Grantee0::U(Who::Alice), Permission::Read)], want: NoAllow, ..Case::default() },
        Case { name: "bucket WRITE grant lets a user put", action: Action::PutObject, bucket_grants: vec![(Grantee0::U(Who::Alice), Permission::Write)], want: Allow, ..Case::default() },
        Case { name: "bucket WRITE grant to AllUsers lets anonymous put", who: Who::Anon, action: Action::PutObject, bucket_grants: vec![(Grantee0::G(Group::AllUsers), Permission::Write)], want: Allow, ..Case::default() },
        Case { name: "AuthenticatedUsers excludes anonymous", who: Who::Anon, action: Action::ListBucket, key: None, bucket_grants: vec![(Grantee0::G(Group::AuthenticatedUsers), Permission::Read)], want: NoAllow, ..Case::default() },
        Case { name: "AuthenticatedUsers includes users", action: Action::ListBucket, key: None, bucket_grants: vec![(Grantee0::G(Group::AuthenticatedUsers), Permission::Read)], want: Allow, ..Case::default() },
        Case { name: "FULL_CONTROL covers READ_ACP", action: Action::GetBucketAcl, key: None, bucket_grants: vec![(Grantee0::U(Who::Alice), Permission::FullControl)], want: Allow, ..Case::default() },
        Case { name: "WRITE_ACP grants PutBucketAcl", action: Action::PutBucketAcl, key: None, bucket_grants: vec![(Grantee0::U(Who::Alice), Permission::WriteAcp)], want: Allow, ..Case::default() },
        Case { name: "no ACL grants PutBucketPolicy", action: Action::PutBucketPolicy, key: None, bucket_grants: vec![(Grantee0::U(Who::Alice), Permission::FullControl)], want: NoAllow, ..Case::default() },
        Case { name: "LogDelivery grants no user", action: Action::PutObject, bucket_grants: vec![(Grantee0::G(Group::LogDelivery), Permission::Write)], want: NoAllow, ..Case::default() },
        // Object ACLs and object ownership.
        Case { name: "object READ grant", object: Some((Who::Owner, vec![(Grantee0::U(Who::Alice), Permission::Read)])), want: Allow, ..Case::default() },
        Case { name: "object READ grant is not READ_ACP", action: Action::GetObjectAcl, object: Some((Who::Owner, vec![(Grantee0::U(Who::Alice), Permission::Read)])), want: NoAllow, ..Case::default() },
        Case { name: "public-read bucket does not make a private object readable", who: Who::Anon, bucket_grants: vec![(Grantee0::G(Group::AllUsers), Permission::Read)], object: Some((Who::Owner, vec![(Grantee0::U(Who::Owner), Permission::FullControl)])), want: NoAllow, ..Case::default() },
        Case { name: "public-read object", who: Who::Anon, object: Some((Who::Owner, vec![(Grantee0::G(Group::AllUsers), Permission::Read)])), want: Allow, ..Case::default() },
        Case { name: "ObjectWriter: uploader owns and reads", who: Who::Alice, object: Some((Who::Alice, vec![(Grantee0::U(Who::Alice), Permission::FullControl)])), want: Allow, ..Case::default() },
        Case { name: "ObjectWriter: bucket owner cannot read a foreign object", who: Who::Owner, object: Some((Who::Alice, vec![(Grantee0::U(Who::Alice), Permission::FullControl)])), want: NoAllow, ..Case::default() },
        Case { name: "ObjectWriter: bucket owner may delete a foreign object", who: Who::Owner, action: Action::DeleteObject, object: Some((Who::Alice, vec![])), want: Allow, ..Case::default() },
        Case { name: "ObjectWriter: bucket-owner-full-control grant lets the bucket owner read", who: Who::Owner, object: Some((Who::Alice, vec![(Grantee0::U(Who::Alice), Permission::FullControl), (Grantee0::U(Who::Owner), Permission::FullControl)])), want: Allow, ..Case::default() },
        Case { name: "foreign object: bucket policy allow does not grant", who: Who::Bob, policy: get_if(""), object: Some((Who::Alice, vec![])), want: NoAllow, ..Case::default() },
        Case { name: "foreign object: bucket policy deny still applies", who: Who::Alice, policy: Some(deny_all_alice.clone()), object: Some((Who::Alice, vec![])), want: Deny, ..Case::default() },
        Case { name: "BucketOwnerPreferred object owned by writer answers to its ACL", ownership: ObjectOwnership::BucketOwnerPreferred, who: Who::Owner, object: Some((Who::Alice, vec![])), want: NoAllow, ..Case::default() },
        Case { name: "BucketOwnerEnforced: bucket owner owns every object", ownership: owner_only(), who: Who::Owner, object: Some((Who::Alice, vec![])), want: Allow, ..Case::default() },
        Case { name: "BucketOwnerEnforced: object ACL grants nothing", ownership: owner_only(), who: Who::Anon, object: Some((Who::Owner, vec![(Grantee0::G(Group::AllUsers), Permission::Read)])), want: NoAllow, ..Case::default() },
        Case { name: "BucketOwnerEnforced: bucket ACL grants nothing", ownership: owner_only(), action: Action::ListBucket, key: None, bucket_grants: vec![(Grantee0::U(Who::Alice), Permission::Read)], want: NoAllow, ..Case::default() },
        Case { name: "BucketOwnerEnforced: the uploader no longer owns", ownership: owner_only(), who: Who::Alice, object: Some((Who::Alice, vec![])), want: NoAllow, ..Case::default() },
        Case { name: "BucketOwnerEnforced: policies still grant", ownership: owner_only(), who: Who::Anon, policy: get_if(""), want: Allow, ..Case::default() },
        // Block public access.
        Case { name: "IgnorePublicAcls drops an AllUsers object grant", who: Who::Anon, block: PublicAccessBlock { ignore_public_acls: true, ..Default::default() }, object: Some((Who::Owner, vec![(Grantee0::G(Group::AllUsers), Permission::Read)])), want: NoAllow, ..Case::default() },
        Case { name: "IgnorePublicAcls drops AuthenticatedUsers too", action: Action::ListBucket, key: None, block: PublicAccessBlock { ignore_public_acls: true, ..Default::default() }, bucket_grants: vec![(Grantee0::G(Group::AuthenticatedUsers), Permission::Read)], want: NoAllow, ..Case::default() },
        Case { name: "IgnorePublicAcls keeps user grants", block: PublicAccessBlock { ignore_public_acls: true, ..Default::default() }, object: Some((Who::Owner, vec![(Grantee0::U(Who::Alice), Permission::Read)])), want: Allow, ..Case::default() },
        Case { name: "RestrictPublicBuckets ignores a public policy for others", who: Who::Anon, block: PublicAccessBlock { restrict_public_buckets: true, ..Default::default() }, policy: get_if(""), want: NoAllow, ..Case::default() },
        Case { name: "RestrictPublicBuckets keeps a non-public policy", block: PublicAccessBlock { restrict_public_buckets: true, ..Default::default() }, policy: Some(stmt("Allow", alice_arn, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")), want: Allow, ..Case::default() },
        Case { name: "RestrictPublicBuckets keeps the owner's access", who: Who::Owner, block: PublicAccessBlock { restrict_public_buckets: true, ..Default::default() }, policy: get_if(""), want: Allow, ..Case::default() },
        Case { name: "a public policy restricted by IP is not public", who: Who::Anon, ip: Some("192.0.2.1"), block: PublicAccessBlock { restrict_public_buckets: true, ..Default::default() }, policy: get_if(r#"{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#), want: Allow, ..Case::default() },
    ]
}

#[test]
fn evaluation_follows_s3_rules() {
    let w = World::new();
    let mut failures = Vec::new();
    for c in cases() {
        let got = run(&w, &c);
        if got != c.want {
            failures.push(format!("{}: got {got:?}, want {:?}", c.name, c.want));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn policy_status_is_public() {
    let public = |p: &str| Policy::compile(p, BUCKET).unwrap().is_public;
    assert!(public(&get_if("").unwrap()));
    assert!(public(
        &get_if(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#).unwrap()
    ));
    assert!(public(
        &get_if(r#"{"StringLike":{"aws:SourceVpce":"vpce-*"}}"#).unwrap()
    ));
    assert!(public(
        &get_if(r#"{"Bool":{"aws:SecureTransport":"true"}}"#).unwrap()
    ));
    assert!(!public(
        &get_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#).unwrap()
    ));
    assert!(!public(
        &get_if(r#"{"StringEquals":{"aws:SourceVpce":"vpce-1"}}"#).unwrap()
    ));
    assert!(!public(&stmt(
        "Allow",
        r#"{"AWS":"000000000003"}"#,
        r#""s3:GetObject""#,
        r#""arn:aws:s3:::photos/*""#,
        ""
    )));
    assert!(!public(&stmt(
        "Deny",
        r#""*""#,
        r#""s3:GetObject""#,
        r#""arn:aws:s3:::photos/*""#,
        ""
    )));
}

#[test]
fn malformed_policies_name_the_problem() {
    let bad: &[(&str, String)] = &[
        ("not json", "{nope".to_string()),
        ("not an object", "[]".to_string()),
        ("bad version", r#"{"Version":"2020-01-01","Statement":[]}"#.to_string()),
        ("no statement", r#"{"Version":"2012-10-17"}"#.to_string()),
        ("empty statement", r#"{"Statement":[]}"#.to_string()),
        ("unknown action", stmt("Allow", r#""*""#, r#""s3:GetObjekt""#, r#""arn:aws:s3:::photos/*""#, "")),
        ("other service", stmt("Allow", r#""*""#, r#""iam:GetUser""#, r#""arn:aws:s3:::photos/*""#, "")),
        ("other bucket", stmt("Allow", r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::videos/*""#, "")),
        ("not an s3 arn", stmt("Allow", r#""*""#, r#""s3:GetObject""#, r#""arn:aws:sqs:::photos""#, "")),
        ("action not on resource", stmt("Allow", r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos""#, "")),
        ("bad principal", stmt("Allow", r#"{"AWS":"arn:aws:iam::12:user/x"}"#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")),
        ("service principal", stmt("Allow", r#"{"Service":"ec2.amazonaws.com"}"#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")),
        ("bad effect", stmt("Permit", r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#, "")),
        ("NotPrincipal with Allow", r#"{"Statement":[{"Effect":"Allow","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}"#.to_string()),
        ("unknown operator", get_if(r#"{"StringSortOf":{"aws:Referer":"x"}}"#).unwrap()),
        ("unknown key", get_if(r#"{"StringEquals":{"s3:whatever":"x"}}"#).unwrap()),
        ("bad ip", get_if(r#"{"IpAddress":{"aws:SourceIp":"300.1.1.1"}}"#).unwrap()),
        ("bad date", get_if(r#"{"DateLessThan":{"aws:CurrentTime":"soon"}}"#).unwrap()),
        ("bad bool", get_if(r#"{"Bool":{"aws:SecureTransport":"maybe"}}"#).unwrap()),
        ("unknown field", r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Extra":1}]}"#.to_string()),
        ("duplicate sid", r#"{"Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"},{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}"#.to_string()),
        ("policy variable", stmt("Allow", r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::photos/${aws:username}/*""#, "")),
        ("both Action and NotAction", r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotAction":"s3:PutObject","Resource":"arn:aws:s3:::photos/*"}]}"#.to_string()),
        ("too large", format!(r#"{{"Id":"{}","Statement":[]}}"#, "x".repeat(25 * 1024))),
    ];
    for (what, text) in bad {
        let e = Policy::compile(text, BUCKET).expect_err(what);
        assert!(!e.message.is_empty(), "{what}");
    }
    // Accepted: bucket wildcards that cover this bucket, list-form fields, 2008 version.
    for ok in [
        stmt("Allow", r#""*""#, r#"["s3:GetObject","s3:ListBucket"]"#, r#"["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]"#, ""),
        stmt("Allow", r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::pho*""#, ""),
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Deny","Principal":{"AWS":["*"]},"Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}}"#.to_string(),
    ] {
        Policy::compile(&ok, BUCKET).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    const ACTIONS: &[Action] = &[
        Action::GetObject,
        Action::PutObject,
        Action::DeleteObject,
        Action::GetObjectAcl,
        Action::PutObjectAcl,
    ];

    fn who() -> impl Strategy<Value = Who> {
        prop_oneof![
            Just(Who::Owner),
            Just(Who::Alice),
            Just(Who::Bob),
            Just(Who::Anon)
        ]
    }

    fn grantee() -> impl Strategy<Value = Grantee0> {
        prop_oneof![
            who().prop_map(Grantee0::U),
            Just(Grantee0::G(Group::AllUsers)),
            Just(Grantee0::G(Group::AuthenticatedUsers)),
        ]
    }

    fn permission() -> impl Strategy<Value = Permission> {
        proptest::sample::select(Permission::ALL.to_vec())
    }

    fn ownership() -> impl Strategy<Value = ObjectOwnership> {
        prop_oneof![
            Just(ObjectOwnership::ObjectWriter),
            Just(ObjectOwnership::BucketOwnerPreferred),
            Just(ObjectOwnership::BucketOwnerEnforced),
        ]
    }

    proptest! {
        /// Whatever else the bucket says (allows for everyone, grants of
        /// every kind, any ownership mode and block settings), a Deny
        /// statement that matches the request decides it.
        #[test]
        fn explicit_deny_is_never_overridden(
            requester in who(),
            action in proptest::sample::select(ACTIONS.to_vec()),
            allow_everyone in any::<bool>(),
            bucket_grants in proptest::collection::vec((grantee(), permission()), 0..4),
            object_owner in who(),
            object_grants in proptest::collection::vec((grantee(), permission()), 0..4),
            has_object in any::<bool>(),
            ownership in ownership(),
            block in any::<[bool; 4]>(),
        ) {
            let w = World::new();
            let principal = match requester {
                Who::Anon => r#""*""#.to_string(),
                other => format!(r#"{{"CanonicalUser":"{}"}}"#, w.id(other)),
            };
            let allow = if allow_everyone {
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"},"#
            } else { "" };
            let policy = format!(
                r#"{{"Statement":[{allow}{{"Effect":"Deny","Principal":{principal},"Action":"s3:{}","Resource":"arn:aws:s3:::photos/*"}}]}}"#,
                action.name()
            );
            let object_owner = if matches!(object_owner, Who::Anon) { Who::Owner } else { object_owner };
            let c = Case {
                name: "property",
                policy: Some(policy),
                bucket_grants,
                ownership,
                block: PublicAccessBlock {
                    block_public_acls: block[0],
                    ignore_public_acls: block[1],
                    block_public_policy: block[2],
                    restrict_public_buckets: block[3],
                },
                who: requester,
                action,
                object: has_object.then_some((object_owner, object_grants)),
                ..Case::default()
            };
            prop_assert_eq!(run(&w, &c), Decision::ExplicitDeny);
        }
    }
}
