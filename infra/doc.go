// Package infra holds the Azure deployment of vcc-ingest: Bicep templates
// (main.bicep, modules/, *.bicepparam), the deployment script, and the tests
// that check the templates without the Bicep compiler, which these build
// machines cannot install: every file must parse (tree-sitter-bicep), and the
// parsed templates must agree with the code's settings, names and the
// least-privilege role set (infra_test.go), and every resource must match
// Azure's published type definitions (typecheck_test.go, testdata/azure-types).
// deploy_test.go drives deploy.sh --dry-run. The alert rules' and the
// workbook's queries are run over the handler's captured log lines
// (workbook_test.go, testdata/logs) by an interpreter of the KQL they use
// (kql_test.go).
//
// The package has no code of its own; packaging lives in infra/packaging and
// infra/cmd/package.
package infra
