package checks

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestInterrupted(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now().Add(5 * time.Millisecond) // a checker that started late
	<-ctx.Done()
	if got := Interrupted(ctx, start); got != "timed out after 30ms" {
		t.Fatalf("configured timeout: %q", got)
	}
	if !IsTimeout(ctx, nil) {
		t.Fatal("a passed deadline is a timeout")
	}
	plain, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	<-plain.Done()
	if got := Interrupted(plain, time.Now().Add(time.Hour)); got != "timed out after 0s" {
		t.Fatalf("deadline before start: %q", got)
	}
	cctx, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if got := Interrupted(cctx, time.Now()); got != "canceled" || IsTimeout(cctx, errors.New("x")) {
		t.Fatalf("cancel: %q", got)
	}
	var ne net.Error = &net.DNSError{IsTimeout: true}
	if !IsTimeout(context.Background(), ne) {
		t.Fatal("a network timeout is a timeout")
	}
}
