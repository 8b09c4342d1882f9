package config

import (
	"errors"
	"fmt"
	"strings"
)

// SettingError is a problem with a setting: Setting is the one at fault
// (the first the message names, when it names several), so that code picks
// or drops problems by setting with errors.As, never by their text.
type SettingError struct {
	Setting string
	Err     error
	// Credential marks a tenants document problem with a tenant's client
	// secret (its secretName, its VCC_CLIENT_SECRET_<ID>): only a command
	// that calls VCC reads it.
	Credential bool
	// text is the message when it is not "Setting: Err" (a problem of
	// several settings names them in its own words).
	text string
}

func (e *SettingError) Error() string {
	if e.text != "" {
		return e.text
	}
	return e.Setting + ": " + e.Err.Error()
}

func (e *SettingError) Unwrap() error { return e.Err }

// settingErr is the problem err of setting name.
func settingErr(name string, err error) *SettingError {
	return &SettingError{Setting: name, Err: err}
}

// settingErrf is the problem of setting name in the message "name: format".
func settingErrf(name, format string, args ...any) *SettingError {
	return settingErr(name, fmt.Errorf(format, args...))
}

// settingsErr is a problem of several settings, name the first, in msg's
// own words (msg names them all).
func settingsErr(name, msg string) *SettingError {
	return &SettingError{Setting: name, Err: errors.New(msg), text: msg}
}

// namedErr types an error whose message already starts with the setting
// it is about ("VCC_CLIENT_ID: required", as vcc.ConfigFromEnv words its
// errors), keeping that message.
func namedErr(err error) *SettingError {
	name, _, _ := strings.Cut(err.Error(), ":")
	return &SettingError{Setting: name, Err: err, text: err.Error()}
}

// tenantsDocErr is a problem of the tenants document of setting name
// (VCC_TENANTS_FILE), marked Credential when it is about a tenant's client
// secret: the tenants package names the field (secretName) in its text,
// read here once so that no caller has to.
func tenantsDocErr(name string, err error) *SettingError {
	e := settingErr(name, err)
	var se *SettingError
	e.Credential = errors.As(err, &se) && se.Credential || strings.Contains(err.Error(), "secretName:")
	return e
}

// vccSettings are the settings outside the VCC_ names that only calling VCC
// reads: the Key Vault that holds the client secret.
var vccSettings = map[string]bool{"KEY_VAULT_URI": true}

// tenantsSettings are the VCC_ settings of the tenants document: which
// tenants there are matters to every command.
var tenantsSettings = map[string]bool{"VCC_TENANTS_FILE": true, "VCC_TENANTS_BLOB": true, "VCC_TENANTS_REFRESH": true}

// ForVCCOnly reports whether e is a problem that only a command calling VCC
// has: a setting of the VCC account or of its secrets (VCC_*,
// KEY_VAULT_URI), except the tenants document's, unless that is about a
// tenant's client secret.
func (e *SettingError) ForVCCOnly() bool {
	if tenantsSettings[e.Setting] {
		return e.Credential
	}
	return strings.HasPrefix(e.Setting, "VCC_") || vccSettings[e.Setting]
}

// Problems are the problems of err, as Load joins them.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
