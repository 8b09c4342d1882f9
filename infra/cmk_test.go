package infra

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Optional: the recordings account encrypted with a customer-managed key.
// Off (the default), nothing changes; on, the account is encrypted under an
// RSA key of the deployment's vault, read by an identity of its own.
func TestRecordingsCustomerManagedKey(t *testing.T) {
	off := deploy(t, "main.bicep", nil)
	if v := off.params["recordingsKeyName"]; v != "" {
		t.Fatalf("main.bicep: recordingsKeyName defaults to %q, want '' (Microsoft-managed keys)", v)
	}
	if off.deployed(t, off.f.decl(t, "module_declaration", "cmk")) {
		t.Error("main.bicep: the cmk module is deployed without recordingsKeyName")
	}
	storageMod := off.f.decl(t, "module_declaration", "storage")
	for _, k := range []string{"cmkKeyVaultUri", "cmkKeyName", "cmkIdentityId"} {
		if v := off.scalar(t, storageMod.Body, "params", k); v != "" {
			t.Errorf("main.bicep: storage %s = %q without a key, want ''", k, v)
		}
	}
	st := deploy(t, "modules/storage.bicep", nil)
	for _, name := range []string{"recordingsAccount", "hostAccount"} {
		r := st.f.decl(t, "resource_declaration", name)
		for _, p := range [][]string{{"properties", "encryption"}, {"identity"}} {
			if v := st.scalar(t, r.Body, p...); v != "<unset>" && v != "null" {
				t.Errorf("storage.bicep %s: %s = %s without a key, want none", name, strings.Join(p, "."), v)
			}
		}
	}

	on := deploy(t, "main.bicep", map[string]string{"recordingsKeyName": "recordings-key"})
	m := on.f.decl(t, "module_declaration", "cmk")
	if m.TypeText != "modules/cmk.bicep" || !on.deployed(t, m) {
		t.Fatal("main.bicep: the cmk module is not deployed with recordingsKeyName")
	}
	for k, v := range map[string]string{"cmkKeyVaultUri": "cmk.outputs.keyVaultUri", "cmkKeyName": "cmk.outputs.keyName", "cmkIdentityId": "cmk.outputs.identityId"} {
		if got := on.get(storageMod.Body, "params", k); textOf(got) != v {
			t.Errorf("main.bicep: storage %s = %s with a key, want %s (the account waits for the key and its role)", k, textOf(got), v)
		}
	}
	if ps := props(path(m.Body, "params")); textOf(ps["keyVaultName"]) != "keyVault.outputs.name" || textOf(ps["keyName"]) != "recordingsKeyName" {
		t.Errorf("main.bicep: cmk must use the deployment's vault and recordingsKeyName, got %s", textOf(path(m.Body, "params")))
	}

	st = deploy(t, "modules/storage.bicep", map[string]string{"cmkKeyVaultUri": "https://kv.vault.azure.net/", "cmkKeyName": "recordings-key", "cmkIdentityId": "/identities/cmk"})
	rec := st.f.decl(t, "resource_declaration", "recordingsAccount")
	for p, want := range map[string]string{
		"properties.encryption.keySource":                      "Microsoft.Keyvault",
		"properties.encryption.keyvaultproperties.keyname":     "recordings-key",
		"properties.encryption.keyvaultproperties.keyvaulturi": "https://kv.vault.azure.net/",
		"properties.encryption.keyvaultproperties.keyversion":  "<unset>", // follows rotations
		"properties.encryption.identity.userAssignedIdentity":  "/identities/cmk",
		"properties.encryption.services.blob.enabled":          "true",
		"identity.type":                   "UserAssigned",
		"properties.publicNetworkAccess":  "Enabled",
		"properties.allowSharedKeyAccess": "false",
	} {
		if v := st.scalar(t, rec.Body, strings.Split(p, ".")...); v != want {
			t.Errorf("recordings account with a key: %s = %s, want %s", p, v, want)
		}
	}
	if ids := st.get(rec.Body, "identity", "userAssignedIdentities"); ids == nil || !strings.Contains(ids.Text, "${cmkIdentityId}") {
		t.Errorf("recordings account: identity %s, want the key's identity", textOf(ids))
	}
	if v := st.scalar(t, st.f.decl(t, "resource_declaration", "hostAccount").Body, "properties", "encryption"); v != "<unset>" && v != "null" {
		t.Errorf("host account: encryption %s, want Microsoft-managed keys (host state only)", v)
	}

	// The key and its one role, to the key's own identity, never the app's.
	cmk := parseBicep(t, "modules/cmk.bicep")
	key := cmk.decl(t, "resource_declaration", "key")
	if resourceType(key.TypeText) != "Microsoft.KeyVault/vaults/keys" || unquote(path(key.Body, "properties", "kty")) != "RSA" || atoi(t, "cmk.bicep keySize", textOf(path(key.Body, "properties", "keySize"))) < 2048 {
		t.Errorf("cmk.bicep: want an RSA key of 2048 bits or more, got %s", textOf(path(key.Body, "properties")))
	}
	user := cmk.decl(t, "resource_declaration", "keyUser")
	if textOf(path(user.Body, "scope")) != "key" || textOf(path(user.Body, "properties", "principalId")) != "identity.properties.principalId" || !strings.Contains(textOf(path(user.Body, "properties", "roleDefinitionId")), "cryptoServiceEncryptionUser") {
		t.Errorf("cmk.bicep: the key's identity must hold Key Vault Crypto Service Encryption User on the key alone, got %s", textOf(user.Body))
	}
	// Storage reaches a private vault as a trusted service.
	kv := deploy(t, "modules/keyvault.bicep", map[string]string{"privateNetworking": "true"})
	if v := kv.scalar(t, kv.f.decl(t, "resource_declaration", "vault").Body, "properties", "networkAcls", "bypass"); v != "AzureServices" {
		t.Errorf("private vault: bypass %s, want AzureServices (Storage reads the customer-managed key as a trusted service)", v)
	}
	readme, err := os.ReadFile(filepath.Join(infraDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`recordingsKeyName`", "Key Vault Crypto Service Encryption User"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("infra/README.md does not say %s", want)
		}
	}
}
