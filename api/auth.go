package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// grant is what a request's token allows.
type grant int

const (
	grantNone grant = iota
	grantRead
	grantFull
)

// auth checks bearer tokens. It compares SHA-256 digests in constant time:
// comparing equal-length digests hides the tokens' lengths too.
type auth struct {
	token, read       [sha256.Size]byte
	hasToken, hasRead bool
}

func newAuth(token, readToken string) auth {
	a := auth{hasToken: token != "", hasRead: readToken != ""}
	if a.hasToken {
		a.token = sha256.Sum256([]byte(token))
	}
	if a.hasRead {
		a.read = sha256.Sum256([]byte(readToken))
	}
	return a
}

func (a auth) enabled() bool { return a.hasToken }

// grantOf judges the request's Authorization header.
func (a auth) grantOf(r *http.Request) grant {
	if !a.hasToken {
		return grantFull
	}
	given, _ := bearer(r.Header.Get("Authorization"))
	return a.tokenGrant(given)
}

// tokenGrant judges a token given to an endpoint that has tokens of its
// own (the heartbeats): what the API's tokens grant it, grantNone when the
// API has none (then there is nothing to present).
func (a auth) tokenGrant(given string) grant {
	if !a.hasToken || given == "" {
		return grantNone
	}
	h := sha256.Sum256([]byte(given))
	// Both comparisons always run, so the time taken does not say which
	// token matched.
	full := subtle.ConstantTimeCompare(h[:], a.token[:])
	read := subtle.ConstantTimeCompare(h[:], a.read[:])
	switch {
	case full == 1:
		return grantFull
	case read == 1 && a.hasRead:
		return grantRead
	}
	return grantNone
}

// tokenEqual compares two tokens in constant time, through their SHA-256
// digests, so that neither the content nor the length leaks.
func tokenEqual(given, want string) bool {
	g, w := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// bearer extracts the token of "Bearer TOKEN"; the scheme is
// case-insensitive (RFC 7235).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
