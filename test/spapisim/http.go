package spapisim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var knownScopes = map[string]bool{ScopeRotation: true, ScopeNotifications: true}

const maxFormSize = 64 << 10

// Handler serves the token endpoint and rotateApplicationClientSecret.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, s.serve("spapisim: token", s.token))
	mux.HandleFunc("POST "+RotatePath, s.serve("spapisim: rotate", s.rotate))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		w.Header().Set("x-amzn-RequestId", s.uuidLocked())
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

// serve waits up to Faults.Latency in real time, answers with fn and logs msg with fn's attributes.
func (s *Sim) serve(msg string, fn func(http.ResponseWriter, *http.Request) []any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var d time.Duration
		s.mu.Lock()
		if s.cfg.Faults.Latency > 0 {
			d = time.Duration(s.cfg.Rand.Int64N(int64(s.cfg.Faults.Latency) + 1))
		}
		s.mu.Unlock()
		if d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
		s.cfg.Logger.InfoContext(r.Context(), msg, fn(w, r)...)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func lwaError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// token answers the token endpoint; an injected error logs no grant type and no error code.
func (s *Sim) token(w http.ResponseWriter, r *http.Request) []any {
	s.mu.Lock()
	s.stats.TokenCalls++
	status := 0
	switch {
	case s.cfg.Faults.FailNextTokenCalls > 0:
		s.cfg.Faults.FailNextTokenCalls--
		status = http.StatusServiceUnavailable
	case s.chanceLocked(s.cfg.Faults.TokenErrorRate):
		status = []int{http.StatusInternalServerError, http.StatusServiceUnavailable}[s.cfg.Rand.IntN(2)]
	}
	if status != 0 {
		s.stats.TokenServerErrors++
		s.mu.Unlock()
		if status == http.StatusInternalServerError {
			lwaError(w, status, "server_error", "Internal server error")
		} else {
			lwaError(w, status, "temporarily_unavailable", "Service temporarily unavailable")
		}
		return []any{"status", status}
	}
	s.mu.Unlock()
	bad := func(code, desc string) []any {
		lwaError(w, http.StatusBadRequest, code, desc)
		return []any{"status", http.StatusBadRequest, "grantType", "", "error", code}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
	if err := r.ParseForm(); err != nil {
		return bad("invalid_request", "The request has an invalid parameter")
	}
	f := r.PostForm
	grant, clientID, secret := f.Get("grant_type"), f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && clientID == "" && secret == "" {
		clientID, secret = u, p
	}
	if grant != "" && grant != "client_credentials" {
		return bad("unsupported_grant_type", "The authorization grant type is not supported by the authorization server")
	}
	// The parameters in the order LWA checks them.
	for _, p := range [][2]string{
		{"grant_type", grant}, {"client_id", clientID}, {"client_secret", secret}, {"scope", f.Get("scope")},
	} {
		if p[1] == "" {
			return bad("invalid_request", "The request is missing a required parameter : "+p[0])
		}
	}
	scopes := map[string]bool{}
	for _, sc := range strings.Fields(f.Get("scope")) {
		if !knownScopes[sc] {
			return bad("invalid_scope", "The request has an invalid parameter : scope")
		}
		scopes[sc] = true
	}

	s.mu.Lock()
	now := s.cfg.Clock()
	if clientID != s.cfg.ClientID || !s.acceptsLocked(secret, now) {
		s.mu.Unlock()
		lwaError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return []any{"status", http.StatusUnauthorized, "grantType", grant, "error", "invalid_client"}
	}
	s.stats.TokenClientCredentials++
	access := "Atza|" + base64.RawURLEncoding.EncodeToString(s.randBytesLocked(48))
	if len(s.tokens) > 1000 {
		maps.DeleteFunc(s.tokens, func(_ string, t token) bool { return !now.Before(t.expiresAt) })
	}
	s.tokens[access] = token{scopes: scopes, expiresAt: now.Add(TokenLifetime)}
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "bearer",
		"expires_in": int(TokenLifetime / time.Second)})
	return []any{"status", http.StatusOK, "grantType", grant, "error", ""}
}

type apiError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Details *string `json:"details,omitempty"`
}

func apiErr(w http.ResponseWriter, status int, code, message string, details *string) {
	writeJSON(w, status, map[string][]apiError{"errors": {{code, message, details}}})
}

// Messages of the SP-API answers, as the official model and service give them.
const (
	msgForbidden   = "Access to requested resource is denied."
	msgNotEnrolled = "Application is not enrolled for rotation notification. Please update application notification preference in Developer console."
	msgQuota       = "You exceeded your quota for the requested resource."
	msgInternal    = "We encountered an internal error. Please try again."
	msgUnavailable = "Service temporarily unavailable. Please try again."
)

// rotate is rotateApplicationClientSecret (cases 2 to 5).
func (s *Sim) rotate(w http.ResponseWriter, r *http.Request) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.RotateCalls++
	now, f := s.cfg.Clock(), &s.cfg.Faults

	// Case 2: a live token with the rotation scope.
	t, ok := s.tokens[r.Header.Get("x-amz-access-token")]
	if !ok || !now.Before(t.expiresAt) || !t.scopes[ScopeRotation] {
		s.stats.RotateForbidden++
		apiErr(w, http.StatusForbidden, "Unauthorized", msgForbidden, new(string))
		return []any{"status", http.StatusForbidden, "notificationId", ""}
	}

	// Case 3: the limiter, and injected throttling in front of it.
	throttled := f.ThrottleNextRotateCalls > 0
	if throttled {
		f.ThrottleNextRotateCalls--
	}
	throttled = throttled || s.chanceLocked(f.RotateThrottleRate) || now.Before(s.lastRotate.Add(rotateInterval))
	if throttled {
		s.stats.RotateThrottled++
		apiErr(w, http.StatusTooManyRequests, "QuotaExceeded", msgQuota, nil)
		return []any{"status", http.StatusTooManyRequests, "notificationId", ""}
	}
	s.lastRotate = now

	if s.chanceLocked(f.RotateErrorRate) {
		s.serverErrorLocked(w)
		return []any{"status", http.StatusInternalServerError, "notificationId", ""}
	}

	// Case 4: no queue registered.
	w.Header().Set("x-amzn-RateLimit-Limit", RateLimit)
	if s.cfg.NewSecretDeliverer == nil {
		s.stats.RotateNotEnrolled++
		apiErr(w, http.StatusBadRequest, "InvalidInput", msgNotEnrolled, nil)
		return []any{"status", http.StatusBadRequest, "notificationId", ""}
	}

	// Case 5: issue the secret and queue its notification.
	s.stats.Rotations++
	id := s.rotateLocked()
	if s.chanceLocked(f.RotateLostResponseRate) {
		w.Header().Del("x-amzn-RateLimit-Limit")
		s.serverErrorLocked(w)
		return []any{"status", http.StatusInternalServerError, "notificationId", id}
	}
	w.WriteHeader(http.StatusNoContent)
	return []any{"status", http.StatusNoContent, "notificationId", id}
}

func (s *Sim) serverErrorLocked(w http.ResponseWriter) {
	if s.cfg.Rand.IntN(2) == 1 {
		apiErr(w, http.StatusServiceUnavailable, "ServiceUnavailable", msgUnavailable, nil)
		return
	}
	apiErr(w, http.StatusInternalServerError, "InternalFailure", msgInternal, nil)
}

// AdminHandler serves /sim/: POST portal-rotate, expiry-notice?daysLeft=N|expiresAt=RFC3339, flush;
// PUT faults (JSON, durations in ns); GET stats, issued (the secrets: mount on loopback only).
func (s *Sim) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn func(*http.Request) (int, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
			if status, err := fn(r); err != nil {
				http.Error(w, err.Error(), status)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	handle("POST /sim/portal-rotate", func(*http.Request) (int, error) {
		s.PortalRotate()
		return 0, nil
	})
	handle("POST /sim/expiry-notice", func(r *http.Request) (int, error) {
		var expiresAt time.Time
		if q := r.URL.Query().Get("daysLeft"); q != "" {
			n, err := strconv.Atoi(q)
			if err != nil {
				return http.StatusBadRequest, errors.New("bad daysLeft")
			}
			expiresAt = s.ExpiresIn(n)
		} else if q := r.URL.Query().Get("expiresAt"); q != "" {
			t, err := time.Parse(time.RFC3339, q)
			if err != nil {
				return http.StatusBadRequest, errors.New("bad expiresAt")
			}
			expiresAt = t
		}
		return http.StatusBadGateway, s.EmitExpiryNotice(r.Context(), nil, expiresAt)
	})
	handle("POST /sim/flush", func(r *http.Request) (int, error) {
		return http.StatusBadGateway, s.Flush(r.Context())
	})
	handle("PUT /sim/faults", func(r *http.Request) (int, error) {
		var f Faults
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return http.StatusBadRequest, errors.New("bad faults: " + err.Error())
		}
		s.SetFaults(f)
		return 0, nil
	})
	mux.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /sim/issued", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Issued())
	})
	return mux
}
