"""Transparency-log building blocks for the audit log: RFC 6962 Merkle trees and their proofs."""
