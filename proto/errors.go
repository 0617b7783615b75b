package proto

import "fmt"

// Error is a coded failure as it crosses the wire: the Code is for
// programs, the Message for people.
type Error struct {
	Code    Code
	Message string
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

// Retryable reports whether the same request may succeed later unchanged.
func (c Code) Retryable() bool {
	switch c {
	case Code_UNAVAILABLE, Code_RATE_LIMITED, Code_SHUTTING_DOWN, Code_INTERNAL:
		return true
	}
	return false
}
