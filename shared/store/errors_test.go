package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

func TestClassification(t *testing.T) {
	resp := func(code int, ec string) error {
		return fmt.Errorf("store: op: %w", &azcore.ResponseError{StatusCode: code, ErrorCode: ec})
	}
	tests := []struct {
		name                 string
		err                  error
		transient, permanent bool
	}{
		{"nil", nil, false, false},
		{"500", resp(500, "InternalError"), true, false},
		{"503", resp(503, "ServerBusy"), true, false},
		{"429", resp(429, ""), true, false},
		{"408", resp(408, ""), true, false},
		{"400", resp(400, "InvalidHeaderValue"), false, true},
		{"403", resp(403, "AuthorizationPermissionMismatch"), false, true},
		{"404 container", resp(404, "ContainerNotFound"), false, true},
		{"exists", fmt.Errorf("x: %w", ErrExists), false, false},
		{"conflict", fmt.Errorf("x: %w", ErrConflict), false, false},
		{"invalid", fmt.Errorf("x: %w", ErrInvalid), false, true},
		{"length", fmt.Errorf("x: %w", ErrLengthMismatch), true, false},
		{"source eof", &sourceError{io.ErrUnexpectedEOF}, true, false},
		{"reset", fmt.Errorf("x: %w", syscall.ECONNRESET), true, false},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true, false},
		{"deadline", context.DeadlineExceeded, true, false},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false, false},
		{"other", errors.New("boom"), false, false},
	}
	for _, tt := range tests {
		if got := IsTransient(tt.err); got != tt.transient {
			t.Errorf("%s: IsTransient = %v, want %v", tt.name, got, tt.transient)
		}
		if got := IsPermanent(tt.err); got != tt.permanent {
			t.Errorf("%s: IsPermanent = %v, want %v", tt.name, got, tt.permanent)
		}
	}
}
