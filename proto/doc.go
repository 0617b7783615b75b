// Package proto is Parley's wire protocol: the protobuf schema
// (parley.proto, generated into parley.pb.go), the limits both sides
// enforce, and the append-only error-code enum. It does no I/O.
//
// Regenerate parley.pb.go with `make proto` (protoc and protoc-gen-go
// v1.36.12); the generated file is committed so a build needs neither.
package proto
