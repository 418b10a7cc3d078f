//! Drives ringstore with the Python clients users run: boto3 and the aws CLI
//! (installed by the tests themselves into target/pyenv).

mod common;

use common::{run_pytest, Server};

#[test]
fn boto3_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_boto3.py", &[]);
}

#[test]
fn aws_cli_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_awscli.py", &[]);
}

#[test]
fn s3cmd_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_s3cmd.py", &[]);
}

#[test]
fn multipart_clients_suite() {
    let server = Server::start(3);
    run_pytest(&server, "test_multipart.py", &[]);
}

#[test]
fn versioning_clients_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_versioning.py", &[]);
}
