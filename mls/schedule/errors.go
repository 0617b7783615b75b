package schedule

import "errors"

// Errors of the schedule. Test with errors.Is.
var (
	// ErrGenerationReused is a request for a ratchet generation whose key
	// was already consumed, or was evicted from the bounded window of
	// skipped keys.
	ErrGenerationReused = errors.New("schedule: ratchet generation already used")
	// ErrGenerationTooFar is a request for a generation more than
	// MaxForwardRatchet steps past the ratchet's position.
	ErrGenerationTooFar = errors.New("schedule: ratchet generation too far ahead")
	// ErrGenerationExhausted means a ratchet reached the last uint32
	// generation; the sender must commit to start a new epoch.
	ErrGenerationExhausted = errors.New("schedule: ratchet generations exhausted")
	// ErrLeafOutOfRange is a leaf index outside the secret tree.
	ErrLeafOutOfRange = errors.New("schedule: leaf index out of range")
	// ErrExportLength is an exporter length the KDF cannot produce.
	ErrExportLength = errors.New("schedule: exporter length out of range")
	// ErrPSKCount is a PSK list longer than a uint16 can index.
	ErrPSKCount = errors.New("schedule: too many pre-shared keys")
	// ErrInvalidPSKType is a PreSharedKeyID with an unknown psktype or
	// resumption usage.
	ErrInvalidPSKType = errors.New("schedule: invalid pre-shared key type")
	// ErrBadState is a serialized secret tree that does not decode.
	ErrBadState = errors.New("schedule: malformed state")
)
