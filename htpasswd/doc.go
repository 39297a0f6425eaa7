// Package htpasswd reads, verifies, edits and atomically writes htpasswd
// files, and encodes them in Kubernetes Secrets.
//
// Parsing is lossless: Parse followed by WriteTo reproduces the input byte
// for byte, so comments, blank lines, order and a missing final newline
// survive an edit. Hashes are parsed strictly before they are verified: an
// unknown or malformed hash never matches any password.
//
// Errors name the line they are about and never contain a password or a
// hash.
package htpasswd
