package phx

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/netpoll"
)

func TestCloseCodeString(t *testing.T) {
	for code, want := range map[CloseCode]string{
		ClosePolicyViolation: "1008 policy violation",
		CloseJoinTimeout:     "4408 join timeout",
		CloseUnauthorized:    "4401 unauthorized",
		4321:                 "4321",
	} {
		if got := code.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint16(code), got, want)
		}
	}
}

// TestCloseCodeLogsNumber: logs keep the bare number, as clients and
// proxies report it.
func TestCloseCodeLogsNumber(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("closed", "code", CloseTooBig)
	if !strings.Contains(buf.String(), " code=1009\n") {
		t.Fatalf("log line %q, want code=1009", buf.String())
	}
}

func TestConnectErrorValidateRange(t *testing.T) {
	for _, code := range []CloseCode{CloseNormal, ClosePolicyViolation, 3999, 5000} {
		if err := (&ConnectError{Code: code}).Validate(); !errors.Is(err, ErrBadCloseCode) {
			t.Errorf("code %d: %v, want ErrBadCloseCode", code, err)
		}
	}
	for _, code := range []CloseCode{4000, CloseUnauthorized, CloseTooManyRequests, 4999} {
		if err := (&ConnectError{Code: code}).Validate(); err != nil {
			t.Errorf("code %d: %v", code, err)
		}
	}
}

// The event loop reports and sends its own numeric codes; phx's names must
// mean the same numbers.
func TestCloseCodesMatchEventLoop(t *testing.T) {
	for code, np := range map[CloseCode]int{
		CloseNormal: netpoll.CloseNormal, CloseGoingAway: netpoll.CloseGoingAway,
		CloseProtocolError: netpoll.CloseProtocolError, CloseNoStatus: netpoll.CloseNoStatus,
		CloseAbnormal: netpoll.CloseAbnormal, CloseInvalidPayload: netpoll.CloseInvalidPayload,
		ClosePolicyViolation: netpoll.ClosePolicyViolation, CloseTooBig: netpoll.CloseTooBig,
		CloseInternalError: netpoll.CloseInternalError, CloseServiceRestart: netpoll.CloseServiceRestart,
		CloseTryAgainLater: netpoll.CloseTryAgainLater,
	} {
		if int(code) != np {
			t.Errorf("%v is %d in the event loop", code, np)
		}
	}
}
