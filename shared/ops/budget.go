package ops

import (
	"context"

	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

// budgetState is where a command books its VCC calls (startup.Pacer), at
// the account's whole budget:
//   - the state container when RECORDINGS_* name one: the deployment's,
//     where every process of the app books the same account's calls;
//   - otherwise the command's local state under --data: a local run's own,
//     shared by every instance of that run (a local directory is one
//     process's, never the deployment's);
//   - otherwise none (a command that opens no state, such as doctor without
//     RECORDINGS_*): the command paces the account in this process alone.
//     That is right only where nothing else calls the account (the sandbox
//     it started, an account no deployment serves), so it says so.
func (o *Env) budgetState(ctx context.Context, f Flags) (store.State, error) {
	cfg := o.Config
	switch {
	case cfg.RecordingsConnectionString != "" || cfg.RecordingsAccountURL != "":
		if o.State != nil && f.Out == "" {
			return o.State, nil // the state container, opened already
		}
		blobs, err := startup.OpenBlobs(ctx, cfg, false)
		if err != nil {
			return nil, err
		}
		return blobs.State(), nil
	case o.State != nil:
		return o.State, nil
	}
	if !f.Sandbox {
		o.Log.Warn("VCC budget paced in this process only: no state container (RECORDINGS_ACCOUNT_URL or RECORDINGS_CONNECTION_STRING) to book it in beside the deployment; give it when the deployment serves this VCC account")
	}
	return nil, nil
}

// BudgetState is where the command books its VCC calls (budgetState); nil:
// in this process alone. A local run's instances book there together.
func (o *Env) BudgetState() store.State { return o.budget }
