use super::*;

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const CREDENTIAL: &str = "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request";

/// AWS's "Example: Browser-Based Upload using HTTP POST (Using AWS
/// Signature Version 4)": its policy's base64 and the signature AWS computed.
const AWS_POLICY_B64: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
const AWS_SIGNATURE: &str = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";

struct Keys;

impl SecretLookup for Keys {
    fn lookup(&self, access_key: &str) -> Option<(&str, bool)> {
        (access_key == ACCESS_KEY).then_some((SECRET, true))
    }
}

fn fields(pairs: &[(&str, &str)]) -> Vec<FormField> {
    pairs
        .iter()
        .map(|(n, v)| FormField {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

/// The example's form, its key's `${filename}` expanded for `photo.jpg`.
fn aws_form() -> Vec<FormField> {
    fields(&[
        ("key", "user/user1/photo.jpg"),
        ("acl", "public-read"),
        (
            "success_action_redirect",
            "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
        ),
        ("Content-Type", "image/jpeg"),
        ("x-amz-meta-uuid", "14365123651274"),
        ("x-amz-server-side-encryption", "AES256"),
        ("X-Amz-Credential", CREDENTIAL),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Date", "20151229T000000Z"),
        ("x-amz-meta-tag", ""),
        ("Policy", AWS_POLICY_B64),
        ("X-Amz-Signature", AWS_SIGNATURE),
    ])
}

fn at(iso: &str, allow_sigv2: bool) -> AuthConfig<'static> {
    AuthConfig {
        region: "us-east-1",
        now: crate::util::time::parse_iso8601(iso).expect("time"),
        max_skew_secs: 900,
        allow_sigv2,
    }
}

fn check(form: &[FormField], bucket: &str, now: &str) -> Result<PostGrant, PostPolicyError> {
    authorize(
        &Form { fields: form },
        bucket,
        &Keys,
        &at(now, false),
        &mut SigningKeyCache::new(),
    )
}

#[test]
fn aws_example_verifies_until_it_expires() {
    let form = aws_form();
    let grant = check(&form, "sigv4examplebucket", "2015-12-29T12:00:00Z").expect("valid");
    assert_eq!(grant.access_key.as_deref(), Some(ACCESS_KEY));
    assert_eq!((grant.min_bytes, grant.max_bytes), (0, u64::MAX));
    assert!(check(&form, "sigv4examplebucket", "2015-12-30T12:00:00Z").is_ok());
    assert_eq!(
        check(&form, "sigv4examplebucket", "2015-12-30T12:00:01Z"),
        Err(PostPolicyError::Expired)
    );
    assert_eq!(
        check(&form, "otherbucket", "2015-12-29T12:00:00Z"),
        Err(PostPolicyError::ConditionFailed(
            "[\"eq\", \"$bucket\", \"sigv4examplebucket\"]".into()
        ))
    );
}

#[test]
fn every_field_must_be_signed_for_and_covered() {
    let now = "2015-12-29T12:00:00Z";
    let with = |extra: (&str, &str)| {
        let mut f = aws_form();
        f.extend(fields(&[extra]));
        check(&f, "sigv4examplebucket", now)
    };
    assert_eq!(
        with(("x-amz-meta-other", "v")),
        Err(PostPolicyError::ExtraField("x-amz-meta-other".into()))
    );
    assert!(with(("x-ignore-flash", "v")).is_ok());
    assert!(with(("FILE", "v")).is_ok(), "file needs no condition");
    let mut tampered = aws_form();
    tampered.retain(|f| f.name != "X-Amz-Signature");
    assert_eq!(
        check(&tampered, "sigv4examplebucket", now),
        Err(PostPolicyError::MissingField("X-Amz-Signature"))
    );
    tampered.extend(fields(&[(
        "x-amz-signature",
        &AWS_SIGNATURE.replace('8', "9"),
    )]));
    assert!(matches!(
        check(&tampered, "sigv4examplebucket", now),
        Err(PostPolicyError::SignatureMismatch { .. })
    ));
    let mut jpeg = aws_form();
    jpeg[3].value = "text/plain".into();
    assert_eq!(
        check(&jpeg, "sigv4examplebucket", now),
        Err(PostPolicyError::ConditionFailed(
            "[\"starts-with\", \"$Content-Type\", \"image/\"]".into()
        ))
    );
    let mut stranger = aws_form();
    stranger[6].value = CREDENTIAL.replace("AKIA", "AKIB");
    assert_eq!(
        check(&stranger, "sigv4examplebucket", now),
        Err(PostPolicyError::Auth(AuthError::InvalidAccessKeyId))
    );
    let mut region = aws_form();
    region[6].value = CREDENTIAL.replace("us-east-1", "eu-west-1");
    assert!(matches!(
        check(&region, "sigv4examplebucket", now),
        Err(PostPolicyError::BadField {
            name: "X-Amz-Credential",
            ..
        })
    ));
}

/// A form signed by the example key with `policy` (JSON text).
fn signed(policy: &str, extra: &[(&str, &str)]) -> Vec<FormField> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(policy);
    let key = sigv4::signing_key(SECRET, "20151229", "us-east-1", "s3");
    let signature = sigv4::hmac_hex(&key, encoded.as_bytes());
    let mut f = fields(&[
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", CREDENTIAL),
        ("x-amz-date", "20151229T000000Z"),
        ("policy", &encoded),
        ("x-amz-signature", &signature),
    ]);
    f.extend(fields(extra));
    f
}

fn policy(conditions: &str) -> String {
    format!(
        "{{\"expiration\": \"2015-12-30T00:00:00Z\", \"conditions\": [{{\"bucket\": \"b\"}}, {{\"x-amz-algorithm\": \"AWS4-HMAC-SHA256\"}}, \
         {{\"x-amz-credential\": \"{CREDENTIAL}\"}}, {{\"x-amz-date\": \"20151229T000000Z\"}}{conditions}]}}"
    )
}

#[test]
fn conditions_as_s3_reads_them() {
    let now = "2015-12-29T12:00:00Z";
    let run = |conditions: &str, extra: &[(&str, &str)]| {
        check(&signed(&policy(conditions), extra), "b", now)
    };
    // Operators and field names in any case; an empty prefix matches anything.
    let ok = run(
        ", {\"bUcKeT\": \"b\"}, [\"StArTs-WiTh\", \"$KeY\", \"\"], [\"eq\", \"$acl\", \"private\"]",
        &[("kEy", "anything"), ("AcL", "private")],
    );
    assert!(ok.is_ok(), "{ok:?}");
    // Ranges narrow each other; bounds may be strings of digits.
    let grant = run(
        ", [\"starts-with\", \"$key\", \"\"], [\"content-length-range\", 10, 100], [\"content-length-range\", \"5\", 50]",
        &[("key", "k")],
    )
    .expect("ranges");
    assert_eq!((grant.min_bytes, grant.max_bytes), (10, 50));
    // A condition on a field the form lacks fails, even starts-with "".
    assert!(matches!(
        run(", [\"starts-with\", \"$x-amz-meta-foo\", \"\"]", &[]),
        Err(PostPolicyError::ConditionFailed(_))
    ));
    assert!(matches!(
        run(
            ", [\"eq\", \"$x-amz-meta-foo\", \"\"]",
            &[("x-amz-meta-foo", "barclamp")]
        ),
        Err(PostPolicyError::ConditionFailed(_))
    ));
    // A Content-Type list: every type must match the prefix.
    let types = ", [\"starts-with\", \"$Content-Type\", \"image/\"]";
    assert!(run(types, &[("content-type", "image/png, image/gif")]).is_ok());
    assert!(run(types, &[("content-type", "image/png, text/plain")]).is_err());
}

#[test]
fn malformed_policies_are_invalid_policy_documents() {
    let now = "2015-12-29T12:00:00Z";
    let invalid = |doc: &str| {
        matches!(
            check(&signed(doc, &[]), "b", now),
            Err(PostPolicyError::InvalidPolicy(_))
        )
    };
    assert!(invalid("not json"));
    assert!(invalid("{\"conditions\": []}"), "no expiration");
    assert!(
        invalid("{\"expiration\": \"2015-12-30T00:00:00Z\"}"),
        "no conditions"
    );
    assert!(invalid(
        "{\"EXPIRATION\": \"2015-12-30T00:00:00Z\", \"conditions\": []}"
    ));
    assert!(invalid(
        "{\"expiration\": \"2015-12-30T00:00:00Z\", \"CONDITIONS\": []}"
    ));
    assert!(invalid(
        "{\"expiration\": \"2015-12-30 00:00:00\", \"conditions\": []}"
    ));
    assert!(invalid(&policy(", [\"content-length-range\", -1, 0]")));
    assert!(invalid(&policy(", [\"content-length-range\", 0]")));
    assert!(invalid(&policy(", [\"matches\", \"$key\", \"x\"]")));
    assert!(invalid(&policy(", [\"eq\", \"$key\"]")));
    assert!(invalid(&policy(", 7")));
    let bad_b64 = {
        let mut f = signed(&policy(""), &[]);
        f[3].value = "%%%".into();
        f
    };
    // The signature covers the text as sent: it fails before the decoding.
    assert!(matches!(
        check(&bad_b64, "b", now),
        Err(PostPolicyError::SignatureMismatch { .. })
    ));
}

#[test]
fn signature_version_2_only_where_allowed_and_no_signature_is_anonymous() {
    let encoded = base64::engine::general_purpose::STANDARD
        .encode("{\"expiration\": \"2015-12-30T00:00:00Z\", \"conditions\": [{\"bucket\": \"b\"}, {\"key\": \"k\"}]}");
    let signature = super::super::sigv2::signature(SECRET, &encoded);
    let form = fields(&[
        ("key", "k"),
        ("AWSAccessKeyId", ACCESS_KEY),
        ("policy", &encoded),
        ("signature", &signature),
    ]);
    let run = |allow: bool, form: &[FormField]| {
        authorize(
            &Form { fields: form },
            "b",
            &Keys,
            &at("2015-12-29T12:00:00Z", allow),
            &mut SigningKeyCache::new(),
        )
    };
    assert_eq!(
        run(false, &form),
        Err(PostPolicyError::Auth(AuthError::SignatureV2NotSupported))
    );
    assert_eq!(
        run(true, &form).expect("v2").access_key.as_deref(),
        Some(ACCESS_KEY)
    );
    let mut wrong = form.clone();
    wrong[3].value = "AAAA".into();
    assert!(matches!(
        run(true, &wrong),
        Err(PostPolicyError::Auth(
            AuthError::SignatureV2DoesNotMatch { .. }
        ))
    ));
    let anonymous =
        run(false, &fields(&[("key", "k"), ("acl", "public-read")])).expect("anonymous");
    assert_eq!(anonymous.access_key, None);
}

/// The bucket is a field every policy covers; `{}` covers nothing (S3:
/// 403, not a malformed policy); a policy without its signature is
/// refused, not taken for an anonymous form.
#[test]
fn the_bucket_must_be_covered_and_a_policy_must_be_signed() {
    let now = "2015-12-29T12:00:00Z";
    let no_bucket = policy("").replace("{\"bucket\": \"b\"}, ", "");
    let key = [("key", "k")];
    let with_key = ", [\"starts-with\", \"$key\", \"\"]";
    assert_eq!(
        check(
            &signed(&no_bucket.replace("]}", &format!("{with_key}]}}")), &key),
            "b",
            now
        ),
        Err(PostPolicyError::ExtraField("bucket".into()))
    );
    let prefix = policy(with_key).replace(
        "{\"bucket\": \"b\"}",
        "[\"starts-with\", \"$bucket\", \"\"]",
    );
    assert!(check(&signed(&prefix, &key), "any-bucket", now).is_ok());
    assert!(check(&signed(&policy(with_key), &key), "b", now).is_ok());
    assert_eq!(
        check(&signed(&policy(", {}"), &key), "b", now),
        Err(PostPolicyError::ExtraField("key".into()))
    );
    let mut unsigned = signed(&policy(with_key), &key);
    unsigned.retain(|f| f.name == "key" || f.name == "policy");
    assert_eq!(
        check(&unsigned, "b", now),
        Err(PostPolicyError::MissingField("X-Amz-Algorithm"))
    );
}

/// A field sent twice passes a condition only if both values do: the
/// second value would otherwise reach the upload unchecked.
#[test]
fn every_value_of_a_repeated_field_must_hold() {
    let now = "2015-12-29T12:00:00Z";
    let conditions = ", [\"starts-with\", \"$key\", \"up/\"], {\"x-amz-meta-team\": \"web\"}";
    let run = |extra: &[(&str, &str)]| check(&signed(&policy(conditions), extra), "b", now);
    assert!(run(&[("key", "up/a"), ("x-amz-meta-team", "web")]).is_ok());
    assert!(run(&[
        ("key", "up/a"),
        ("x-amz-meta-team", "web"),
        ("X-Amz-Meta-Team", "web")
    ])
    .is_ok());
    assert_eq!(
        run(&[
            ("key", "up/a"),
            ("x-amz-meta-team", "web"),
            ("x-amz-meta-team", "ops")
        ]),
        Err(PostPolicyError::ConditionFailed(
            "[\"eq\", \"$x-amz-meta-team\", \"web\"]".into()
        ))
    );
    assert!(matches!(
        run(&[
            ("key", "up/a"),
            ("key", "elsewhere"),
            ("x-amz-meta-team", "web")
        ]),
        Err(PostPolicyError::ConditionFailed(_))
    ));
}
