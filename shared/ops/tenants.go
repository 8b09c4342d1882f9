package ops

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
)

// buildTenants builds every tenant's adapters (NewTenant), with a VCC
// client each when the command calls VCC.
func (o *Env) buildTenants(callsVCC bool, cfg config.Config) error {
	for _, t := range cfg.Tenants.Tenants {
		tn, err := startup.NewTenant(cfg, t, startup.TenantBase{Log: o.Log, Sink: o.Sink, State: o.State, VCC: callsVCC, Budget: o.budget})
		if err != nil {
			return err
		}
		o.Tenants = append(o.Tenants, tn)
	}
	return nil
}

// selectTenant builds every tenant's adapters, then, unless every tenant
// is wanted, makes the one --tenant names (or the only one) the command's
// Config, Client, Sink and State.
func (o *Env) selectTenant(f Flags, callsVCC, all bool, cfg config.Config) error {
	if err := o.buildTenants(callsVCC, cfg); err != nil {
		return err
	}
	if all {
		if f.Tenant != "" {
			return errors.New("--tenant: this command serves every tenant of the tenants document")
		}
		o.Where += " (each tenant under <id>/)"
		return nil
	}
	ids := cfg.TenantIDs()
	id := f.Tenant
	if id == "" {
		if len(ids) > 1 {
			return fmt.Errorf("--tenant: required, the tenants document lists %d tenants (%s)", len(ids), strings.Join(ids, ", "))
		}
		id = ids[0]
	}
	for _, t := range o.Tenants {
		if t.ID != id {
			continue
		}
		o.Config, o.Client, o.Log = t.Config, t.VCC, t.Log
		if t.Sink != nil {
			o.Sink = t.Sink
			o.Where += " (tenant " + id + ", under " + id + "/)"
		}
		if t.State != nil {
			o.State = t.State
		}
		if t.VCC != nil {
			o.VCCConfig = t.VCCConfig
		}
		o.Tenants = []startup.Tenant{t}
		return nil
	}
	return fmt.Errorf("--tenant: %q is not in the tenants document (%s)", id, strings.Join(ids, ", "))
}
