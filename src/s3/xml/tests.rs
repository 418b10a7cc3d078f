use super::*;
use proptest::prelude::*;

const D: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const NS: &str = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
/// 2009-10-12T17:50:30.000Z
const T: i64 = 1_255_369_830_000;

fn owner() -> Owner {
    Owner {
        id: "id1".into(),
        display_name: "alice".into(),
    }
}

fn code(r: Result<impl std::fmt::Debug, S3Error>) -> S3ErrorCode {
    r.unwrap_err().code
}

#[test]
fn escaping() {
    assert_eq!(escape("a&b<c>\"d'e"), "a&amp;b&lt;c&gt;&quot;d&apos;e");
    assert_eq!(escape("tab\tnl\ncr\r"), "tab\tnl\ncr&#xD;");
    assert_eq!(escape("\u{1}\u{1f}"), "&#x1;&#x1F;");
    assert_eq!(escape("中 +%"), "中 +%");
}

#[test]
fn writes_list_buckets() {
    let page = ListBucketsPage {
        owner: owner(),
        buckets: vec![BucketEntry {
            name: "b1".into(),
            creation_millis: T,
            region: "us-east-1".into(),
        }],
        continuation_token: None,
        prefix: None,
    };
    assert_eq!(
        list_buckets(&page),
        format!(
            "{D}<ListAllMyBucketsResult{NS}><Owner><ID>id1</ID><DisplayName>alice</DisplayName></Owner>\
             <Buckets><Bucket><Name>b1</Name><CreationDate>2009-10-12T17:50:30.000Z</CreationDate>\
             <BucketRegion>us-east-1</BucketRegion></Bucket></Buckets></ListAllMyBucketsResult>"
        )
    );
}

#[test]
fn writes_a_paginated_list_buckets_page() {
    let page = ListBucketsPage {
        owner: owner(),
        buckets: Vec::new(),
        continuation_token: Some("tok".into()),
        prefix: Some("a&b".into()),
    };
    assert!(list_buckets(&page)
        .ends_with("<Buckets></Buckets><ContinuationToken>tok</ContinuationToken><Prefix>a&amp;b</Prefix></ListAllMyBucketsResult>"));
}

#[test]
fn writes_location() {
    assert_eq!(
        location_constraint("us-east-1"),
        format!("{D}<LocationConstraint{NS}/>")
    );
    assert_eq!(
        location_constraint("eu-west-1"),
        format!("{D}<LocationConstraint{NS}>eu-west-1</LocationConstraint>")
    );
}

fn entry(key: &str) -> ObjectEntry {
    ObjectEntry {
        key: key.into(),
        last_modified_millis: T,
        etag: "9b2cf535f27731c974343645a3985328".into(),
        size: 434_234,
        owner: None,
    }
}

#[test]
fn writes_list_v2() {
    let page = ListV2Page {
        bucket: "b".into(),
        prefix: "a b/".into(),
        delimiter: Some("/".into()),
        max_keys: 1000,
        is_truncated: true,
        continuation_token: Some("tok1".into()),
        next_continuation_token: Some("tok2".into()),
        start_after: None,
        encoding_url: true,
        contents: vec![entry("a b/x+y.txt")],
        common_prefixes: vec!["a b/c d/".into()],
    };
    assert_eq!(
        list_objects_v2(&page),
        format!(
            "{D}<ListBucketResult{NS}><Name>b</Name><Prefix>a+b/</Prefix><Delimiter>/</Delimiter>\
             <MaxKeys>1000</MaxKeys><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>\
             <ContinuationToken>tok1</ContinuationToken><NextContinuationToken>tok2</NextContinuationToken>\
             <EncodingType>url</EncodingType>\
             <Contents><Key>a+b/x%2By.txt</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
             <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>434234</Size>\
             <StorageClass>STANDARD</StorageClass></Contents>\
             <CommonPrefixes><Prefix>a+b/c+d/</Prefix></CommonPrefixes></ListBucketResult>"
        )
    );
}

#[test]
fn writes_list_v2_plain_with_owner() {
    let mut e = entry("k&<>");
    e.owner = Some(owner());
    let page = ListV2Page {
        bucket: "b".into(),
        max_keys: 2,
        start_after: Some("s".into()),
        contents: vec![e],
        ..ListV2Page::default()
    };
    assert_eq!(
        list_objects_v2(&page),
        format!(
            "{D}<ListBucketResult{NS}><Name>b</Name><Prefix></Prefix><MaxKeys>2</MaxKeys>\
             <KeyCount>1</KeyCount><IsTruncated>false</IsTruncated><StartAfter>s</StartAfter>\
             <Contents><Key>k&amp;&lt;&gt;</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
             <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>434234</Size>\
             <Owner><ID>id1</ID><DisplayName>alice</DisplayName></Owner>\
             <StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>"
        )
    );
}

#[test]
fn writes_list_v1() {
    let page = ListV1Page {
        bucket: "b".into(),
        prefix: "p".into(),
        marker: "m".into(),
        next_marker: Some("p/x/".into()),
        delimiter: Some("/".into()),
        max_keys: 1,
        is_truncated: true,
        common_prefixes: vec!["p/x/".into()],
        ..ListV1Page::default()
    };
    assert_eq!(
        list_objects_v1(&page),
        format!(
            "{D}<ListBucketResult{NS}><Name>b</Name><Prefix>p</Prefix><Marker>m</Marker>\
             <NextMarker>p/x/</NextMarker><Delimiter>/</Delimiter><MaxKeys>1</MaxKeys>\
             <IsTruncated>true</IsTruncated><CommonPrefixes><Prefix>p/x/</Prefix></CommonPrefixes>\
             </ListBucketResult>"
        )
    );
}

#[test]
fn list_v1_leaves_prefix_unencoded_under_url_encoding() {
    let page = ListV1Page {
        bucket: "b".into(),
        prefix: "a b/".into(),
        marker: "a b/c d".into(),
        delimiter: Some(" ".into()),
        max_keys: 1,
        encoding_url: true,
        common_prefixes: vec!["a b/x ".into()],
        ..ListV1Page::default()
    };
    let xml = list_objects_v1(&page);
    assert!(
        xml.contains("<Prefix>a b/</Prefix><Marker>a+b/c+d</Marker>"),
        "{xml}"
    );
    // S3 form-encodes listed fields: a space is '+' (as in writes_list_v2).
    assert!(xml.contains("<Delimiter>+</Delimiter>"), "{xml}");
    assert!(
        xml.contains("<CommonPrefixes><Prefix>a+b/x+</Prefix>"),
        "{xml}"
    );
}

#[test]
fn writes_delete_result() {
    let mut r = DeleteResult {
        quiet: false,
        deleted: vec![
            DeletedEntry {
                key: "a".into(),
                version_id: None,
                delete_marker: false,
                delete_marker_version_id: None,
            },
            DeletedEntry {
                key: "b".into(),
                version_id: None,
                delete_marker: true,
                delete_marker_version_id: Some("v9".into()),
            },
        ],
        errors: vec![DeleteErrorEntry {
            key: "c".into(),
            version_id: Some("v1".into()),
            code: "AccessDenied".into(),
            message: "Access Denied".into(),
        }],
    };
    let err = "<Error><Key>c</Key><VersionId>v1</VersionId><Code>AccessDenied</Code>\
               <Message>Access Denied</Message></Error>";
    assert_eq!(
        delete_result(&r),
        format!(
            "{D}<DeleteResult{NS}><Deleted><Key>a</Key></Deleted><Deleted><Key>b</Key>\
             <DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>v9</DeleteMarkerVersionId>\
             </Deleted>{err}</DeleteResult>"
        )
    );
    r.quiet = true;
    assert_eq!(
        delete_result(&r),
        format!("{D}<DeleteResult{NS}>{err}</DeleteResult>")
    );
}

#[test]
fn writes_copy_and_multipart_results() {
    let c = CopyResult {
        etag: "e1".into(),
        last_modified_millis: T,
    };
    assert_eq!(
        copy_object_result(&c),
        format!(
            "{D}<CopyObjectResult{NS}><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
             <ETag>&quot;e1&quot;</ETag></CopyObjectResult>"
        )
    );
    assert!(copy_part_result(&c).contains("<CopyPartResult xmlns="));
    assert_eq!(
        initiate_multipart_upload(&InitiateMultipartUpload {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u1".into(),
        }),
        format!(
            "{D}<InitiateMultipartUploadResult{NS}><Bucket>b</Bucket><Key>k</Key>\
             <UploadId>u1</UploadId></InitiateMultipartUploadResult>"
        )
    );
    assert_eq!(
        complete_multipart_upload(&CompleteMultipartUploadResult {
            location: "http://h/b/k".into(),
            bucket: "b".into(),
            key: "k".into(),
            etag: "abc-2".into(),
            checksum: None,
            checksum_type: None,
        }),
        format!(
            "{D}<CompleteMultipartUploadResult{NS}><Location>http://h/b/k</Location>\
             <Bucket>b</Bucket><Key>k</Key><ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>"
        )
    );
    // The checksum where boto3 reads it: in the XML as well as the header.
    assert!(complete_multipart_upload(&CompleteMultipartUploadResult {
        location: "/b/k".into(),
        bucket: "b".into(),
        key: "k".into(),
        etag: "abc-2".into(),
        checksum: Some((ChecksumAlgorithm::Sha256, "AAAA-2".into())),
        checksum_type: Some(ChecksumType::Composite),
    })
    .ends_with(
        "<ETag>&quot;abc-2&quot;</ETag><ChecksumSHA256>AAAA-2</ChecksumSHA256>\
         <ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>"
    ));
}

#[test]
fn writes_list_parts_and_uploads() {
    let parts = ListPartsPage {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "u".into(),
        owner: owner(),
        initiator: owner(),
        part_number_marker: 0,
        next_part_number_marker: 1,
        max_parts: 1,
        is_truncated: true,
        parts: vec![PartEntry {
            part_number: 1,
            last_modified_millis: T,
            etag: "e".into(),
            size: 5,
            checksum: None,
        }],
        checksum: None,
    };
    let o = "<ID>id1</ID><DisplayName>alice</DisplayName>";
    assert_eq!(
        list_parts(&parts),
        format!(
            "{D}<ListPartsResult{NS}><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>\
             <Initiator>{o}</Initiator><Owner>{o}</Owner><StorageClass>STANDARD</StorageClass>\
             <PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>1</NextPartNumberMarker>\
             <MaxParts>1</MaxParts><IsTruncated>true</IsTruncated><Part><PartNumber>1</PartNumber>\
             <LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>5</Size>\
             </Part></ListPartsResult>"
        )
    );
    let uploads = ListUploadsPage {
        bucket: "b".into(),
        max_uploads: 1000,
        uploads: vec![UploadEntry {
            key: "k k".into(),
            upload_id: "u".into(),
            initiated_millis: T,
            owner: owner(),
            initiator: owner(),
            checksum: None,
        }],
        encoding_url: true,
        ..ListUploadsPage::default()
    };
    assert_eq!(
        list_multipart_uploads(&uploads),
        format!(
            "{D}<ListMultipartUploadsResult{NS}><Bucket>b</Bucket><KeyMarker></KeyMarker>\
             <UploadIdMarker></UploadIdMarker><Prefix></Prefix><MaxUploads>1000</MaxUploads>\
             <IsTruncated>false</IsTruncated><EncodingType>url</EncodingType><Upload><Key>k+k</Key>\
             <UploadId>u</UploadId><Initiator>{o}</Initiator><Owner>{o}</Owner>\
             <StorageClass>STANDARD</StorageClass><Initiated>2009-10-12T17:50:30.000Z</Initiated>\
             </Upload></ListMultipartUploadsResult>"
        )
    );
}

#[test]
fn writes_tagging_versioning_attributes_acl() {
    assert_eq!(
        tagging(&[("k".into(), "v&".into())]),
        format!("{D}<Tagging{NS}><TagSet><Tag><Key>k</Key><Value>v&amp;</Value></Tag></TagSet></Tagging>")
    );
    assert_eq!(
        versioning_configuration(None),
        format!("{D}<VersioningConfiguration{NS}></VersioningConfiguration>")
    );
    assert_eq!(
        versioning_configuration(Some(VersioningStatus::Suspended)),
        format!(
            "{D}<VersioningConfiguration{NS}><Status>Suspended</Status></VersioningConfiguration>"
        )
    );
    let attrs = ObjectAttributes {
        etag: Some("e".into()),
        checksum: Some((
            ChecksumAlgorithm::Crc32c,
            "AAAAAA==".into(),
            ChecksumType::FullObject,
        )),
        parts: Some(ObjectPartsPage {
            total_parts: 3,
            ..Default::default()
        }),
        storage_class: true,
        object_size: Some(9),
    };
    assert_eq!(
        object_attributes(&attrs),
        format!(
            "{D}<GetObjectAttributesResponse{NS}><ETag>e</ETag><Checksum><ChecksumCRC32C>AAAAAA==\
             </ChecksumCRC32C><ChecksumType>FULL_OBJECT</ChecksumType></Checksum><ObjectParts>\
             <PartsCount>3</PartsCount></ObjectParts><StorageClass>STANDARD</StorageClass>\
             <ObjectSize>9</ObjectSize></GetObjectAttributesResponse>"
        )
    );
    let acl = AccessControlPolicy {
        owner: owner(),
        grants: vec![
            Grant {
                grantee: Grantee::CanonicalUser(owner()),
                permission: "FULL_CONTROL",
            },
            Grant {
                grantee: Grantee::Group("http://acs.amazonaws.com/groups/global/AllUsers".into()),
                permission: "READ",
            },
        ],
    };
    let xsi = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";
    assert_eq!(
        access_control_policy(&acl),
        format!(
            "{D}<AccessControlPolicy{NS}><Owner><ID>id1</ID><DisplayName>alice</DisplayName></Owner>\
             <AccessControlList><Grant><Grantee {xsi} xsi:type=\"CanonicalUser\"><ID>id1</ID>\
             <DisplayName>alice</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>\
             <Grant><Grantee {xsi} xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers\
             </URI></Grantee><Permission>READ</Permission></Grant></AccessControlList>\
             </AccessControlPolicy>"
        )
    );
}

#[test]
fn written_documents_parse_back() {
    // Whatever the writers emit (including hostile keys) is well-formed XML.
    let page = ListV2Page {
        bucket: "b".into(),
        contents: vec![entry("]]> <!-- & \"'\r\n\t中")],
        ..ListV2Page::default()
    };
    let xml = list_objects_v2(&page);
    let root = parse_tree(xml.as_bytes(), MAX_XML_BODY_BYTES).unwrap();
    let key = root.child("Contents").unwrap().child_text("Key").unwrap();
    assert_eq!(key, "]]> <!-- & \"'\r\n\t中");
}

#[test]
fn parses_create_bucket_configuration() {
    assert_eq!(parse_create_bucket_configuration(b"").unwrap(), None);
    assert_eq!(parse_create_bucket_configuration(b" \n").unwrap(), None);
    let body = format!(
        "<CreateBucketConfiguration{NS}><LocationConstraint>eu-west-1</LocationConstraint>\
         </CreateBucketConfiguration>"
    );
    assert_eq!(
        parse_create_bucket_configuration(body.as_bytes()).unwrap(),
        Some("eu-west-1".into())
    );
    let body = "<?xml version=\"1.0\"?>\n<CreateBucketConfiguration>\n  <LocationConstraint/>\n</CreateBucketConfiguration>";
    assert_eq!(
        parse_create_bucket_configuration(body.as_bytes()).unwrap(),
        None
    );
    assert_eq!(
        code(parse_create_bucket_configuration(b"<Other/>")),
        S3ErrorCode::MalformedXML
    );
}

#[test]
fn parses_delete_from_boto3() {
    // botocore's serialisation of delete_objects (namespace, no whitespace).
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete{NS}><Object><Key>a</Key></Object>\
         <Object><Key> sp ace &amp; &lt;x&gt; </Key><VersionId>v1</VersionId></Object>\
         <Quiet>true</Quiet></Delete>"
    );
    let req = parse_delete(body.as_bytes()).unwrap();
    assert!(req.quiet);
    assert_eq!(
        req.objects,
        vec![
            ("a".to_string(), None),
            (" sp ace & <x> ".to_string(), Some("v1".to_string()))
        ]
    );
    // Hand-written, no namespace, pretty-printed, prefixed namespace, CDATA.
    let body = "<Delete>\n  <Quiet>False</Quiet>\n  <Object>\n    <Key>k1</Key>\n  </Object>\n\
                <s3:Object xmlns:s3=\"x\"><s3:Key><![CDATA[a<b]]></s3:Key></s3:Object>\n</Delete>\n";
    let req = parse_delete(body.as_bytes()).unwrap();
    assert!(!req.quiet);
    assert_eq!(
        req.objects,
        vec![("k1".to_string(), None), ("a<b".to_string(), None)]
    );
}

#[test]
fn delete_limits_and_errors() {
    let objs = |n: usize| {
        let mut s = String::from("<Delete>");
        for i in 0..n {
            s.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
        }
        s.push_str("</Delete>");
        s
    };
    assert_eq!(
        parse_delete(objs(MAX_DELETE_OBJECTS).as_bytes())
            .unwrap()
            .objects
            .len(),
        1000
    );
    assert_eq!(
        code(parse_delete(objs(MAX_DELETE_OBJECTS + 1).as_bytes())),
        S3ErrorCode::MalformedXML
    );
    let bad: &[&[u8]] = &[
        b"",
        b"<Delete></Delete>",
        b"<Delete><Object></Object></Delete>",
        b"<Delete><Object><Key>a</Key></Object><Quiet>maybe</Quiet></Delete>",
        b"<Delete><Object><Key>a</Key></Object>",
        b"<Delete><Object><Key>a</Key></Object></Delete><Delete/>",
        b"<Delete><Object><Key>a</Key></Obj></Delete>",
        b"<Delete><Object><Key>a&bogus;</Key></Object></Delete>",
        b"junk<Delete><Object><Key>a</Key></Object></Delete>",
        b"<Remove><Object><Key>a</Key></Object></Remove>",
        b"<Delete><Object><Key>\xff</Key></Object></Delete>",
    ];
    for body in bad {
        assert_eq!(
            code(parse_delete(body)),
            S3ErrorCode::MalformedXML,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let deep = format!(
        "{}{}",
        "<a>".repeat(MAX_XML_DEPTH + 1),
        "</a>".repeat(MAX_XML_DEPTH + 1)
    );
    assert_eq!(
        code(parse_delete(deep.as_bytes())),
        S3ErrorCode::MalformedXML
    );
    let huge = vec![b' '; MAX_XML_BODY_BYTES + 1];
    assert_eq!(code(parse_delete(&huge)), S3ErrorCode::MalformedXML);
}

#[test]
fn characters_xml_1_0_forbids_are_malformed_raw_or_referenced() {
    let with_key = |k: &str| format!("<Delete><Object><Key>{k}</Key></Object></Delete>");
    for key in [
        "a\u{0}b", "a&#0;b", "a&#x0;b", "\u{1}", "&#x1;", "&#31;", "x\u{1f}", "\u{FFFE}",
        "&#xFFFF;",
    ] {
        assert_eq!(
            code(parse_delete(with_key(key).as_bytes())),
            S3ErrorCode::MalformedXML,
            "{key:?}"
        );
    }
    // A forbidden character anywhere in the document, not only in a key.
    assert_eq!(
        code(parse_delete(
            b"<Delete>\0<Object><Key>a</Key></Object></Delete>"
        )),
        S3ErrorCode::MalformedXML
    );
    // What XML 1.0 allows stays a key: tab, LF, CR (as a reference), the
    // edges of the allowed ranges.
    for (sent, key) in [
        ("t\tn\n", "t\tn\n"),
        ("&#xD;&#9;", "\r\t"),
        (
            "\u{20}\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}",
            "\u{20}\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}",
        ),
    ] {
        let req = parse_delete(with_key(sent).as_bytes()).expect(sent);
        assert_eq!(req.objects, vec![(key.to_string(), None)]);
    }
}

#[test]
fn parses_complete_multipart() {
    // As botocore and aws-sdk-rust send it: quoted ETags, namespace, checksums.
    let body = format!(
        "<CompleteMultipartUpload{NS}><Part><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag>\
         <PartNumber>1</PartNumber></Part><Part><ChecksumCRC32>AAAAAA==</ChecksumCRC32>\
         <ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag><PartNumber>2</PartNumber>\
         </Part></CompleteMultipartUpload>"
    );
    let parts = parse_complete_multipart(body.as_bytes()).unwrap();
    assert_eq!(
        parts,
        vec![
            CompletedPart {
                part_number: 1,
                etag: "a54357aff0632cce46d942af68356b38".into(),
                checksums: vec![],
            },
            CompletedPart {
                part_number: 2,
                etag: "0c78aef83f66abc1fa1e8477f296d394".into(),
                checksums: vec![(ChecksumAlgorithm::Crc32, "AAAAAA==".into())],
            },
        ]
    );
    // Without namespace, pretty-printed, unquoted ETag, order kept as sent.
    let body = "<CompleteMultipartUpload>\n <Part>\n  <PartNumber> 3 </PartNumber>\n  <ETag>e3</ETag>\n </Part>\n\
                <Part><PartNumber>1</PartNumber><ETag>e1</ETag></Part></CompleteMultipartUpload>";
    let parts = parse_complete_multipart(body.as_bytes()).unwrap();
    assert_eq!(
        parts
            .iter()
            .map(|p| (p.part_number, p.etag.as_str()))
            .collect::<Vec<_>>(),
        vec![(3, "e3"), (1, "e1")]
    );
}

#[test]
fn complete_multipart_errors() {
    let bad: &[(&[u8], S3ErrorCode)] = &[
        (b"", S3ErrorCode::MalformedXML),
        (b"<CompleteMultipartUpload/>", S3ErrorCode::MalformedXML),
        (b"<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>", S3ErrorCode::MalformedXML),
        (b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>", S3ErrorCode::MalformedXML),
        (b"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>", S3ErrorCode::InvalidArgument),
        (b"<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>", S3ErrorCode::InvalidArgument),
        (b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>", S3ErrorCode::InvalidArgument),
    ];
    for (body, want) in bad {
        assert_eq!(
            code(parse_complete_multipart(body)),
            *want,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let mut many = String::from("<CompleteMultipartUpload>");
    for i in 1..=MAX_PARTS + 1 {
        many.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>e</ETag></Part>",
            i.min(MAX_PARTS)
        ));
    }
    many.push_str("</CompleteMultipartUpload>");
    assert_eq!(
        code(parse_complete_multipart(many.as_bytes())),
        S3ErrorCode::MalformedXML
    );
}

#[test]
fn parses_tagging() {
    let body = format!(
        "<Tagging{NS}><TagSet><Tag><Key>env</Key><Value>prod</Value></Tag>\
         <Tag><Key>empty</Key><Value></Value></Tag></TagSet></Tagging>"
    );
    assert_eq!(
        parse_tagging(body.as_bytes()).unwrap(),
        vec![("env".into(), "prod".into()), ("empty".into(), "".into())]
    );
    assert_eq!(
        parse_tagging(b"<Tagging><TagSet/></Tagging>").unwrap(),
        vec![]
    );
    let tags = |n: usize| {
        let mut s = String::from("<Tagging><TagSet>");
        for i in 0..n {
            s.push_str(&format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>"));
        }
        s + "</TagSet></Tagging>"
    };
    assert_eq!(parse_tagging(tags(10).as_bytes()).unwrap().len(), 10);
    assert_eq!(
        code(parse_tagging(tags(11).as_bytes())),
        S3ErrorCode::InvalidTag
    );
    assert_eq!(parse_bucket_tagging(tags(50).as_bytes()).unwrap().len(), 50);
    assert_eq!(
        code(parse_bucket_tagging(tags(51).as_bytes())),
        S3ErrorCode::InvalidTag
    );
    let one = |k: &str, v: &str| {
        format!("<Tagging><TagSet><Tag><Key>{k}</Key><Value>{v}</Value></Tag></TagSet></Tagging>")
    };
    // Limits count characters, not bytes.
    assert!(parse_tagging(one(&"中".repeat(128), &"中".repeat(256)).as_bytes()).is_ok());
    assert_eq!(
        code(parse_tagging(one(&"k".repeat(129), "v").as_bytes())),
        S3ErrorCode::InvalidTag
    );
    assert_eq!(
        code(parse_tagging(one("k", &"v".repeat(257)).as_bytes())),
        S3ErrorCode::InvalidTag
    );
    assert_eq!(
        code(parse_tagging(one("", "v").as_bytes())),
        S3ErrorCode::InvalidTag
    );
    let dup = "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>";
    assert_eq!(code(parse_tagging(dup.as_bytes())), S3ErrorCode::InvalidTag);
    assert_eq!(
        code(parse_tagging(b"<Tagging></Tagging>")),
        S3ErrorCode::MalformedXML
    );
    assert_eq!(
        code(parse_tagging(
            b"<Tagging><TagSet><Tag><Value>1</Value></Tag></TagSet></Tagging>"
        )),
        S3ErrorCode::MalformedXML
    );
}

#[test]
fn parses_versioning() {
    let body =
        format!("<VersioningConfiguration{NS}><Status>Enabled</Status></VersioningConfiguration>");
    assert_eq!(
        parse_versioning(body.as_bytes()).unwrap(),
        Some(VersioningStatus::Enabled)
    );
    let body = "<VersioningConfiguration><MfaDelete>Disabled</MfaDelete><Status>Suspended</Status></VersioningConfiguration>";
    assert_eq!(
        parse_versioning(body.as_bytes()).unwrap(),
        Some(VersioningStatus::Suspended)
    );
    assert_eq!(
        parse_versioning(b"<VersioningConfiguration/>").unwrap(),
        None
    );
    assert_eq!(
        code(parse_versioning(
            b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>"
        )),
        S3ErrorCode::MalformedXML
    );
    assert_eq!(code(parse_versioning(b"")), S3ErrorCode::MalformedXML);
}

#[test]
fn parses_encryption_configuration() {
    let doc = |alg: &str, key: &str| {
        format!(
            "<ServerSideEncryptionConfiguration{NS}><Rule><ApplyServerSideEncryptionByDefault>\
             <SSEAlgorithm>{alg}</SSEAlgorithm></ApplyServerSideEncryptionByDefault>{key}</Rule>\
             </ServerSideEncryptionConfiguration>"
        )
    };
    let plain = parse_encryption_configuration(doc("AES256", "").as_bytes()).unwrap();
    assert!(!plain.bucket_key_enabled && plain.kms.is_none());
    assert!(
        parse_encryption_configuration(
            doc("AES256", "<BucketKeyEnabled>true</BucketKeyEnabled>").as_bytes()
        )
        .unwrap()
        .bucket_key_enabled
    );
    let kms = parse_encryption_configuration(doc("aws:kms", "").as_bytes()).unwrap();
    assert_eq!(kms.kms, Some(crate::catalog::DefaultKms::default()));
    let keyed = |alg: &str, key: &str| {
        format!(
            "<ServerSideEncryptionConfiguration{NS}><Rule><ApplyServerSideEncryptionByDefault>\
             <SSEAlgorithm>{alg}</SSEAlgorithm><KMSMasterKeyID>{key}</KMSMasterKeyID>\
             </ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
        )
    };
    let k = parse_encryption_configuration(keyed("aws:kms:dsse", "alias/a").as_bytes()).unwrap();
    assert_eq!(
        k.kms,
        Some(crate::catalog::DefaultKms {
            key_id: Some("alias/a".into()),
            dsse: true
        })
    );
    assert_eq!(
        parse_encryption_configuration(encryption_configuration(&k).as_bytes()).unwrap(),
        k
    );
    assert_eq!(
        code(parse_encryption_configuration(
            keyed("AES256", "k").as_bytes()
        )),
        S3ErrorCode::InvalidArgument
    );
    for bad in [
        doc("DES", ""),
        doc("AES256", "<BucketKeyEnabled>yes</BucketKeyEnabled>"),
        "<ServerSideEncryptionConfiguration/>".to_string(),
        "<ServerSideEncryptionConfiguration><Rule/></ServerSideEncryptionConfiguration>"
            .to_string(),
    ] {
        assert_eq!(
            code(parse_encryption_configuration(bad.as_bytes())),
            S3ErrorCode::MalformedXML,
            "{bad}"
        );
    }
    // The document GetBucketEncryption answers parses back.
    let d = crate::catalog::DefaultEncryption {
        bucket_key_enabled: true,
        kms: None,
    };
    assert_eq!(
        parse_encryption_configuration(encryption_configuration(&d).as_bytes()).unwrap(),
        d
    );
}

#[test]
fn doctype_entities_are_not_expanded() {
    let body =
        b"<!DOCTYPE d [<!ENTITY x \"boom\">]><Delete><Object><Key>&x;</Key></Object></Delete>";
    assert_eq!(code(parse_delete(body)), S3ErrorCode::MalformedXML);
}

proptest! {
    #[test]
    fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_delete(&body);
        let _ = parse_complete_multipart(&body);
        let _ = parse_tagging(&body);
        let _ = parse_versioning(&body);
        let _ = parse_create_bucket_configuration(&body);
        let _ = parse_bucket_tagging(&body);
        let _ = parse_cors_configuration(&body);
        let _ = parse_lifecycle_configuration(&body);
        let _ = parse_access_control_policy(&body);
        let _ = parse_encryption_configuration(&body);
    }

    #[test]
    fn configuration_parsers_never_panic_on_xmlish(parts in proptest::collection::vec(
        prop_oneof![
            Just("<CORSConfiguration>".to_string()), Just("</CORSConfiguration>".to_string()),
            Just("<CORSRule>".to_string()), Just("</CORSRule>".to_string()),
            Just("<AllowedOrigin>*</AllowedOrigin>".to_string()),
            Just("<AllowedMethod>GET</AllowedMethod>".to_string()),
            Just("<MaxAgeSeconds>".to_string()), Just("</MaxAgeSeconds>".to_string()),
            Just("<LifecycleConfiguration>".to_string()), Just("</LifecycleConfiguration>".to_string()),
            Just("<Rule>".to_string()), Just("</Rule>".to_string()),
            Just("<Filter>".to_string()), Just("</Filter>".to_string()),
            Just("<And>".to_string()), Just("</And>".to_string()),
            Just("<Prefix>p/</Prefix>".to_string()),
            Just("<Tag><Key>k</Key><Value>v</Value></Tag>".to_string()),
            Just("<Status>Enabled</Status>".to_string()),
            Just("<Expiration>".to_string()), Just("</Expiration>".to_string()),
            Just("<Days>".to_string()), Just("</Days>".to_string()),
            Just("<Date>2020-01-01T00:00:00Z</Date>".to_string()),
            Just("<AccessControlPolicy>".to_string()), Just("</AccessControlPolicy>".to_string()),
            Just("<AccessControlList>".to_string()), Just("</AccessControlList>".to_string()),
            Just("<Grant>".to_string()), Just("</Grant>".to_string()),
            Just("<Grantee>".to_string()), Just("</Grantee>".to_string()),
            Just("<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>".to_string()),
            Just("<ID>x</ID>".to_string()), Just("<Permission>READ</Permission>".to_string()),
            Just("<ServerSideEncryptionConfiguration>".to_string()),
            Just("<ApplyServerSideEncryptionByDefault>".to_string()),
            Just("<SSEAlgorithm>AES256</SSEAlgorithm>".to_string()),
            Just("<BucketKeyEnabled>true</BucketKeyEnabled>".to_string()),
            "\\PC{0,8}",
        ], 0..40)) {
        let body = parts.concat();
        let _ = parse_encryption_configuration(body.as_bytes());
        let _ = parse_cors_configuration(body.as_bytes());
        let _ = parse_lifecycle_configuration(body.as_bytes());
        let _ = parse_access_control_policy(body.as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_xmlish(parts in proptest::collection::vec(
        prop_oneof![
            Just("<Delete>".to_string()), Just("</Delete>".to_string()),
            Just("<Object>".to_string()), Just("</Object>".to_string()),
            Just("<Key>".to_string()), Just("</Key>".to_string()),
            Just("<Part>".to_string()), Just("<PartNumber>".to_string()),
            Just("<![CDATA[".to_string()), Just("]]>".to_string()),
            Just("&amp;".to_string()), Just("&#x0;".to_string()),
            Just("<?xml version=\"1.0\"?>".to_string()), Just("<a:b xmlns:a='x'/>".to_string()),
            "\\PC{0,8}",
        ], 0..40)) {
        let body = parts.concat();
        let _ = parse_delete(body.as_bytes());
        let _ = parse_complete_multipart(body.as_bytes());
        let _ = parse_tagging(body.as_bytes());
    }

    #[test]
    fn escaped_text_round_trips(s in "[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\u{FFFE}\\u{FFFF}]{0,40}") {
        let xml = format!("<Delete><Object><Key>{}</Key></Object></Delete>", escape(&s));
        let req = parse_delete(xml.as_bytes()).unwrap();
        prop_assert_eq!(&req.objects[0].0, &s);
    }
}

#[test]
fn cors_configurations_round_trip_and_bad_ones_are_refused() {
    let rules = vec![
        CorsRule {
            id: Some("app".into()),
            allowed_origins: vec!["https://*.example".into(), "https://a&b.test".into()],
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(60),
        },
        CorsRule {
            allowed_origins: vec!["*".into()],
            allowed_methods: vec!["HEAD".into()],
            ..CorsRule::default()
        },
    ];
    let written = cors_configuration(&rules);
    assert_eq!(parse_cors_configuration(written.as_bytes()).unwrap(), rules);
    let doc = |rule: &str| format!("<CORSConfiguration>{rule}</CORSConfiguration>");
    for (body, want) in [
        (doc(""), S3ErrorCode::MalformedXML),
        (
            doc("<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"),
            S3ErrorCode::MalformedXML,
        ),
        (
            doc("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"),
            S3ErrorCode::MalformedXML,
        ),
        (
            doc("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
                 <MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>"),
            S3ErrorCode::MalformedXML,
        ),
        (
            doc("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod></CORSRule>"),
            S3ErrorCode::InvalidRequest,
        ),
        (
            doc("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
                 <AllowedHeader>x-*-*</AllowedHeader></CORSRule>"),
            S3ErrorCode::InvalidRequest,
        ),
        ("<Other/>".to_string(), S3ErrorCode::MalformedXML),
    ] {
        assert_eq!(code(parse_cors_configuration(body.as_bytes())), want, "{body}");
    }
    let many: String = (0..=MAX_CORS_RULES)
        .map(|_| "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>")
        .collect();
    assert_eq!(
        code(parse_cors_configuration(doc(&many).as_bytes())),
        S3ErrorCode::InvalidRequest
    );
}

#[test]
fn access_control_policies_parse_by_grantee_kind() {
    let body = format!(
        "<AccessControlPolicy{NS}><Owner><ID>o</ID></Owner><AccessControlList>\
         <Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">\
         <ID>o</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>\
         <Grant><Grantee><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee>\
         <Permission>READ</Permission></Grant>\
         <Grant><Grantee><EmailAddress>a@b.c</EmailAddress></Grantee><Permission>WRITE</Permission></Grant>\
         </AccessControlList></AccessControlPolicy>"
    );
    let doc = parse_access_control_policy(body.as_bytes()).unwrap();
    assert_eq!(doc.owner_id.as_deref(), Some("o"));
    assert_eq!(
        doc.grants,
        vec![
            AclGrant {
                grantee: AclGrantee::User("o".into()),
                permission: "FULL_CONTROL".into()
            },
            AclGrant {
                grantee: AclGrantee::Group(
                    "http://acs.amazonaws.com/groups/global/AllUsers".into()
                ),
                permission: "READ".into()
            },
            AclGrant {
                grantee: AclGrantee::Email("a@b.c".into()),
                permission: "WRITE".into()
            },
        ]
    );
    for bad in [
        "<AccessControlPolicy/>",
        "<AccessControlPolicy><AccessControlList><Grant><Permission>READ</Permission></Grant>\
         </AccessControlList></AccessControlPolicy>",
        "<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee>\
         <Permission>EVERYTHING</Permission></Grant></AccessControlList></AccessControlPolicy>",
        "<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID><URI>u</URI></Grantee>\
         <Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>",
        "not xml",
    ] {
        assert_eq!(
            code(parse_access_control_policy(bad.as_bytes())),
            S3ErrorCode::MalformedACLError,
            "{bad}"
        );
    }
}

#[test]
fn lists_versions_and_delete_markers() {
    let page = ListVersionsPage {
        bucket: "b".into(),
        prefix: "".into(),
        key_marker: "a".into(),
        version_id_marker: "null".into(),
        next_key_marker: Some("c".into()),
        next_version_id_marker: Some("null".into()),
        max_keys: 1,
        is_truncated: true,
        versions: vec![
            VersionEntry {
                key: "c".into(),
                version_id: "null".into(),
                is_latest: true,
                delete_marker: false,
                last_modified_millis: T,
                etag: "e".into(),
                size: 3,
                owner: Some(owner()),
            },
            VersionEntry {
                key: "d".into(),
                version_id: "0000018c2e7b1f40000100000000002a".into(),
                is_latest: true,
                delete_marker: true,
                last_modified_millis: T,
                etag: String::new(),
                size: 0,
                owner: Some(owner()),
            },
        ],
        ..ListVersionsPage::default()
    };
    assert_eq!(
        list_object_versions(&page),
        format!(
            "{D}<ListVersionsResult{NS}><Name>b</Name><Prefix></Prefix><KeyMarker>a</KeyMarker>\
             <VersionIdMarker>null</VersionIdMarker><NextKeyMarker>c</NextKeyMarker>\
             <NextVersionIdMarker>null</NextVersionIdMarker><MaxKeys>1</MaxKeys>\
             <IsTruncated>true</IsTruncated><Version><Key>c</Key><VersionId>null</VersionId>\
             <IsLatest>true</IsLatest><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
             <ETag>&quot;e&quot;</ETag><Size>3</Size><Owner><ID>id1</ID><DisplayName>alice</DisplayName>\
             </Owner><StorageClass>STANDARD</StorageClass></Version><DeleteMarker><Key>d</Key>\
             <VersionId>0000018c2e7b1f40000100000000002a</VersionId><IsLatest>true</IsLatest>\
             <LastModified>2009-10-12T17:50:30.000Z</LastModified><Owner><ID>id1</ID>\
             <DisplayName>alice</DisplayName></Owner></DeleteMarker></ListVersionsResult>"
        )
    );
}

#[test]
fn lifecycle_configurations_round_trip_in_every_filter_form() {
    let tags = |t: &[(&str, &str)]| -> Vec<(String, String)> {
        t.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let rules = vec![
        LifecycleRule {
            id: Some("prefix".into()),
            enabled: true,
            prefix: "logs/".into(),
            tags: Vec::new(),
            filter_form: LifecycleFilterForm::Prefix,
            expiration: Some(LifecycleExpiration::Days(30)),
            abort_incomplete_days: None,
            ..Default::default()
        },
        LifecycleRule {
            id: Some("tag".into()),
            enabled: false,
            prefix: String::new(),
            tags: tags(&[("tmp", "1")]),
            filter_form: LifecycleFilterForm::Tag,
            expiration: Some(LifecycleExpiration::Date(1_577_836_800_000)),
            abort_incomplete_days: None,
            ..Default::default()
        },
        LifecycleRule {
            id: None,
            enabled: true,
            prefix: "a&b/".into(),
            tags: tags(&[("x", "1"), ("y", "")]),
            filter_form: LifecycleFilterForm::And,
            expiration: Some(LifecycleExpiration::Days(1)),
            abort_incomplete_days: None,
            ..Default::default()
        },
        LifecycleRule {
            id: Some("legacy".into()),
            enabled: true,
            prefix: "old/".into(),
            tags: Vec::new(),
            filter_form: LifecycleFilterForm::Legacy,
            expiration: Some(LifecycleExpiration::Days(7)),
            abort_incomplete_days: Some(3),
            ..Default::default()
        },
    ];
    let mut rules = rules;
    rules.push(LifecycleRule {
        id: Some("versions".into()),
        enabled: true,
        prefix: "logs/".into(),
        noncurrent_expiration: Some(NoncurrentExpiration {
            days: 30,
            newer_versions: Some(3),
        }),
        expired_object_delete_marker: true,
        ..Default::default()
    });
    rules.push(LifecycleRule {
        id: Some("old".into()),
        enabled: false,
        noncurrent_expiration: Some(NoncurrentExpiration {
            days: 7,
            newer_versions: None,
        }),
        ..Default::default()
    });
    let written = lifecycle_configuration(&rules);
    assert_eq!(
        parse_lifecycle_configuration(written.as_bytes()).unwrap(),
        rules
    );
    let rule = |inner: &str| {
        format!("<LifecycleConfiguration><Rule>{inner}</Rule></LifecycleConfiguration>")
    };
    let ok_filter = "<Filter><Prefix>p</Prefix></Filter><Status>Enabled</Status>";
    for (body, want) in [
        ("<LifecycleConfiguration/>".to_string(), S3ErrorCode::MalformedXML),
        (rule("<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"), S3ErrorCode::MalformedXML),
        (rule(ok_filter), S3ErrorCode::MalformedXML),
        (rule(&format!("{ok_filter}<Expiration><Days>-1</Days></Expiration>")), S3ErrorCode::InvalidArgument),
        (rule(&format!("{ok_filter}<Expiration><Days>1</Days><Date>2020-01-01T00:00:00Z</Date></Expiration>")), S3ErrorCode::MalformedXML),
        (rule(&format!("{ok_filter}<Expiration><Date>2020-01-01T12:00:00Z</Date></Expiration>")), S3ErrorCode::InvalidArgument),
        (rule(&format!("{ok_filter}<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")), S3ErrorCode::MalformedXML),
        (rule("<Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"), S3ErrorCode::InvalidRequest),
        (rule(&format!("{ok_filter}<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>")), S3ErrorCode::InvalidArgument),
        (rule(&format!("{ok_filter}<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>")), S3ErrorCode::InvalidArgument),
        (rule(&format!("{ok_filter}<NoncurrentVersionTransition><NoncurrentDays>1</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>")), S3ErrorCode::NotImplemented),
        (rule(&format!("{ok_filter}<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>")), S3ErrorCode::InvalidArgument),
        (rule("<Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>"), S3ErrorCode::InvalidRequest),
        (rule("<Filter><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"), S3ErrorCode::NotImplemented),
        (rule("<Filter/><Status>Maybe</Status><Expiration><Days>1</Days></Expiration>"), S3ErrorCode::MalformedXML),
        (rule("<Prefix>a</Prefix><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"), S3ErrorCode::MalformedXML),
        (
            format!(
                "<LifecycleConfiguration>{0}{0}</LifecycleConfiguration>",
                "<Rule><ID>same</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
            ),
            S3ErrorCode::InvalidArgument,
        ),
    ] {
        assert_eq!(code(parse_lifecycle_configuration(body.as_bytes())), want, "{body}");
    }
    // An empty <Filter/> covers every key.
    let all = parse_lifecycle_configuration(
        rule("<Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        (all[0].prefix.as_str(), all[0].filter_form),
        ("", LifecycleFilterForm::Prefix)
    );
}

#[test]
fn public_access_block_and_ownership_documents() {
    let body = format!(
        "<PublicAccessBlockConfiguration{NS}><BlockPublicAcls>true</BlockPublicAcls>\
         <RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>"
    );
    let b = parse_public_access_block(body.as_bytes()).unwrap();
    assert!(b.block_public_acls && b.restrict_public_buckets);
    assert!(!b.ignore_public_acls && !b.block_public_policy);
    let back = parse_public_access_block(public_access_block(&b).as_bytes()).unwrap();
    assert_eq!(back, b);
    assert_eq!(
        code(parse_public_access_block(
            b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>"
        )),
        S3ErrorCode::MalformedXML
    );
    let o = ownership_controls("ObjectWriter");
    assert_eq!(
        parse_ownership_controls(o.as_bytes()).unwrap(),
        "ObjectWriter"
    );
    for bad in [
        "<OwnershipControls/>",
        "<OwnershipControls><Rule/></OwnershipControls>",
        "<OwnershipControls><Rule><ObjectOwnership>A</ObjectOwnership></Rule><Rule><ObjectOwnership>B</ObjectOwnership></Rule></OwnershipControls>",
    ] {
        assert_eq!(code(parse_ownership_controls(bad.as_bytes())), S3ErrorCode::MalformedXML, "{bad}");
    }
}
