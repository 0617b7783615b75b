package proto

import "time"

// ProtocolVersion is the version of this schema. A server refuses a device
// whose version it does not speak with UNSUPPORTED_VERSION.
const ProtocolVersion = 1

// Limits both sides enforce. Changing one is a protocol change: raise them
// only together with the server's defaults.
const (
	// MaxFrameBytes bounds one WebSocket frame. It fits a commit plus a
	// Welcome whose GroupInfo carries the ratchet tree of a 1024-member group
	// (about 400 KiB with Ed25519/X25519 keys) with headroom. The transport
	// rejects a larger declared length before reading the payload.
	MaxFrameBytes = 1 << 20

	// MaxCiphertextBytes bounds an application message. Text, receipts and
	// typing are small; attachments travel as encrypted blobs, not here.
	MaxCiphertextBytes = 64 << 10

	// MaxHandshakeBytes bounds an MLS commit, welcome or group info.
	MaxHandshakeBytes = 900 << 10

	// MessageIDBytes is the exact size of a client-chosen message id.
	MessageIDBytes = 16

	// MaxGroupIDBytes bounds an MLS group id.
	MaxGroupIDBytes = 32

	// MaxDevicesPerAccount is the primary plus four linked devices.
	MaxDevicesPerAccount = 5

	// MaxKeyPackagesPerUpload and MaxStoredKeyPackages bound one device's
	// supply of one-time key packages.
	MaxKeyPackagesPerUpload = 100
	MaxStoredKeyPackages    = 200

	// MaxKeyPackageBytes bounds one key package.
	MaxKeyPackageBytes = 4 << 10

	// MaxDeviceNameBytes bounds a device's display name.
	MaxDeviceNameBytes = 64

	// MaxEventBatch is how many mailbox entries the server pushes before it
	// waits for an ack.
	MaxEventBatch = 256
)

// Lifetimes.
const (
	// MailboxTTL is how long an unacknowledged envelope waits for its device.
	MailboxTTL = 30 * 24 * time.Hour

	// LinkCodeTTL is how long a device-link code stays valid.
	LinkCodeTTL = 10 * time.Minute
)
