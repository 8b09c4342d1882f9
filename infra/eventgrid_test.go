package infra

import (
	"regexp"
	"strings"
	"testing"
)

// secureParam reports whether the parameter is declared @secure() (its
// decorators are the lines right above it).
func secureParam(f *bicepFile, name string) bool {
	return regexp.MustCompile(`@secure\(\)\s*\n(?:@[^\n]*\n)*param ` + name + ` `).MatchString(f.Root.Text)
}

// The downstream notice: off by default; when on, a system topic on the
// recordings account and one subscription, filtered to interaction.json
// written in the recordings container, to a queue of the deployment's
// namespace (the topic's identity holding Data Sender on that queue alone)
// or to the customer's webhook.
func TestDownstreamNotice(t *testing.T) {
	main := parseBicep(t, "main.bicep")
	p := main.decl(t, "parameter_declaration", "downstreamNotice")
	if v, ok := literal(p.Body); !ok || v != "" {
		t.Errorf("main.bicep: downstreamNotice defaults to %s, want '' (off)", textOf(p.Body))
	}
	if !secureParam(main, "downstreamWebhookUrl") {
		t.Error("main.bicep: downstreamWebhookUrl must be @secure() (the URL may carry the endpoint's key)")
	}
	m := main.decl(t, "module_declaration", "downstream")
	if m.TypeText != "modules/eventgrid.bicep" || m.Cond == nil || m.Cond.Text != "(!empty(downstreamNotice))" {
		t.Errorf("main.bicep: module downstream = %s if %s, want modules/eventgrid.bicep if (!empty(downstreamNotice))", m.TypeText, textOf(m.Cond))
	}
	for k, v := range map[string]string{
		"recordingsAccountName":   "storage.outputs.recordingsAccountName",
		"recordingsContainerName": "storage.outputs.recordingsContainerName",
		"serviceBusNamespaceName": "serviceBus.outputs.namespaceName",
		"queueName":               "downstreamQueueName",
		"webhookUrl":              "downstreamWebhookUrl",
	} {
		if got := props(path(m.Body, "params"))[k]; got == nil || got.Text != v {
			t.Errorf("main.bicep downstream %s = %s, want %s", k, textOf(got), v)
		}
	}
	if q := main.decl(t, "parameter_declaration", "downstreamQueueName"); strings.Contains(q.Body.Text, "'interactions'") {
		t.Error("the notices must not go to the interactions queue")
	}

	f := parseBicep(t, "modules/eventgrid.bicep")
	res := map[string]decl{}
	for _, r := range f.decls("resource_declaration") {
		res[r.Name] = r
	}
	topic := res["topic"]
	if resourceType(topic.TypeText) != "Microsoft.EventGrid/systemTopics" || textOf(path(topic.Body, "properties", "source")) != "recordingsAccount.id" ||
		unquote(path(topic.Body, "properties", "topicType")) != "Microsoft.Storage.StorageAccounts" || unquote(path(topic.Body, "identity", "type")) != "SystemAssigned" {
		t.Errorf("eventgrid.bicep: topic must be the recordings account's system topic with its own identity: %s", textOf(topic.Body))
	}
	if acct := res["recordingsAccount"]; !acct.Existing || textOf(path(acct.Body, "name")) != "recordingsAccountName" {
		t.Error("eventgrid.bicep: the source must be the existing recordings account")
	}
	filter := f.decl(t, "variable_declaration", "filter").Body
	for k, want := range map[string]string{
		"subjectBeginsWith":      "/blobServices/default/containers/${recordingsContainerName}/blobs/",
		"subjectEndsWith":        "/interaction.json",
		"isSubjectCaseSensitive": "true",
	} {
		if got := path(filter, k); got == nil || strings.Trim(got.Text, "'") != want {
			t.Errorf("eventgrid.bicep filter %s = %s, want %s", k, textOf(got), want)
		}
	}
	if types := path(filter, "includedEventTypes"); types == nil || len(types.named()) != 1 || unquote(types.named()[0]) != "Microsoft.Storage.BlobCreated" {
		t.Errorf("eventgrid.bicep: includedEventTypes = %s, want BlobCreated only", textOf(types))
	}

	subs := 0
	for _, r := range f.decls("resource_declaration") {
		if resourceType(r.TypeText) != "Microsoft.EventGrid/systemTopics/eventSubscriptions" {
			continue
		}
		subs++
		where := pos(f, r.Node) + " " + r.Name
		if textOf(path(r.Body, "parent")) != "topic" || textOf(path(r.Body, "properties", "filter")) != "filter" || r.Cond == nil {
			t.Errorf("%s: want a conditional subscription of the topic with the filter", where)
		}
	}
	if subs != 2 {
		t.Errorf("eventgrid.bicep: %d subscriptions, want 2 (queue or webhook, one of them deployed)", subs)
	}
	sb := res["toServiceBus"]
	if sb.Cond == nil || sb.Cond.Text != "(toQueue)" || textOf(path(sb.Body, "properties", "deliveryWithResourceIdentity", "destination", "properties", "resourceId")) != "queue.id" ||
		unquote(path(sb.Body, "properties", "deliveryWithResourceIdentity", "identity", "type")) != "SystemAssigned" ||
		!strings.Contains(textOf(path(sb.Body, "dependsOn")), "topicSender") {
		t.Errorf("eventgrid.bicep: toServiceBus must deliver to queue.id with the topic's identity, after its role: %s", textOf(sb.Body))
	}
	wh := res["toWebhook"]
	if wh.Cond == nil || wh.Cond.Text != "(!toQueue)" || textOf(path(wh.Body, "properties", "destination", "properties", "endpointUrl")) != "webhookUrl" ||
		unquote(path(wh.Body, "properties", "destination", "endpointType")) != "WebHook" {
		t.Errorf("eventgrid.bicep: toWebhook must post to webhookUrl: %s", textOf(wh.Body))
	}
	if !secureParam(f, "webhookUrl") {
		t.Error("eventgrid.bicep: webhookUrl must be @secure()")
	}
	// Least privilege: Data Sender, for the topic's identity, on the one queue.
	ra := res["topicSender"]
	rp := path(ra.Body, "properties")
	if resourceType(ra.TypeText) != "Microsoft.Authorization/roleAssignments" || ra.Cond == nil || textOf(path(ra.Body, "scope")) != "queue" ||
		textOf(path(rp, "principalId")) != "topic.identity.principalId" || unquote(path(rp, "principalType")) != "ServicePrincipal" ||
		!strings.Contains(textOf(path(rp, "roleDefinitionId")), "serviceBusDataSender") {
		t.Errorf("eventgrid.bicep: topicSender must give the topic's identity Data Sender on the queue only: %s", textOf(ra.Body))
	}
	if v, _ := literal(f.decl(t, "variable_declaration", "serviceBusDataSender").Body); v != "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39" {
		t.Errorf("eventgrid.bicep: serviceBusDataSender = %s, want Azure Service Bus Data Sender", v)
	}
	q := res["queue"]
	if q.Cond == nil || textOf(path(q.Body, "name")) != "queueName" || textOf(path(q.Body, "properties", "requiresDuplicateDetection")) != "true" || textOf(path(q.Body, "properties", "requiresSession")) != "false" {
		t.Errorf("eventgrid.bicep: the notices' queue must be conditional, named queueName, with duplicate detection and no sessions: %s", textOf(q.Body))
	}
}
