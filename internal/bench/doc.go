// Package bench is the harness behind `make bench`: it starts nginx,
// authreq (htpasswd, LDAP, tokens), a stand-in upstream and an always-200
// auth backend on 127.0.0.1, drives them with wrk, and prints one table of
// throughput, latency and CPU per request for each way of protecting a
// location, a password-spraying flood included.
//
// The run itself is TestBenchTable, which only runs with AUTHREQ_BENCH=1;
// `make test` checks the generated nginx config and the parsers only. This
// file's package holds the parts that need no running programs: the wrk
// scripts and their output, CPU accounting from /proc, the nginx config
// and the table.
package bench
