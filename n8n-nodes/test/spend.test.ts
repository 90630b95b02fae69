import type { IDataObject } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { route } from '../nodes/AiGateway/router';
import { fakeContext, gatewayError } from './context';

const report = {
	object: 'spend_report',
	since: '2026-12-02T08:00:00.000Z',
	until: null,
	period: null,
	group_by: ['workflow'],
	total: { requests: 3, cost_usd: 0.0123, prompt_tokens: 900, completion_tokens: 120, errors: 1 },
	groups: [
		{ workflow: 'wf-a', workflow_name: 'Triage', requests: 2, cost_usd: 0.01, errors: 1 },
		{ workflow: 'wf-b', workflow_name: 'Leads', requests: 1, cost_usd: 0.0023, errors: 0 },
	],
};

// The gateway answers a spend report with its request id and no usage facts.
const answer = { headers: { 'x-request-id': 'req_spend_1' }, body: report };
const facts = {
	request_id: 'req_spend_1',
	provider: null,
	model: null,
	target: null,
	prompt_tokens: null,
	completion_tokens: null,
	total_tokens: null,
	cached_tokens: null,
	reasoning_tokens: null,
	tokens_estimated: null,
	cost_usd: null,
	overhead_ms: null,
	attempts: null,
};

function spendParameters(overrides: IDataObject = {}): IDataObject {
	return {
		resource: 'spend',
		operation: 'get',
		scope: 'workflow',
		period: 'day',
		groupBy: 'none',
		...overrides,
	};
}

describe('Spend: Get', () => {
	it('should ask for this workflow and the period when the scope is the workflow', async () => {
		const { ctx, requests } = fakeContext({
			parameters: spendParameters(),
			answers: [answer],
		});

		const [[item]] = await route.call(ctx);

		expect(requests[0]).toMatchObject({
			method: 'GET',
			url: '/v1/spend',
			qs: { period: 'day', workflow_id: 'wf-triage-01' },
		});
		expect(item.json).toEqual({ ...report, gateway: facts });
	});

	it('should send the range and grouping when the period is custom', async () => {
		const { ctx, requests } = fakeContext({
			parameters: spendParameters({
				scope: 'key',
				period: 'custom',
				since: '2026-12-01T00:00:00Z',
				until: '',
				groupBy: 'workflow',
				output: 'report',
			}),
			answers: [answer],
		});

		await route.call(ctx);

		expect(requests[0].qs).toEqual({ since: '2026-12-01T00:00:00Z', group_by: 'workflow' });
	});

	it('should return one item per group with the report period when asked', async () => {
		const { ctx } = fakeContext({
			parameters: spendParameters({ scope: 'key', groupBy: 'workflow', output: 'groups' }),
			answers: [answer],
		});

		const [output] = await route.call(ctx);

		const period = { since: report.since, until: null, group_by: ['workflow'] };
		expect(output.map((item) => item.json)).toEqual([
			{ ...report.groups[0], ...period, gateway: facts },
			{ ...report.groups[1], ...period, gateway: facts },
		]);
		expect(output.every((item) => (item.pairedItem as IDataObject).item === 0)).toBe(true);
	});

	it('should throw NodeOperationError when a custom range has no start', async () => {
		const { ctx } = fakeContext({ parameters: spendParameters({ period: 'custom', since: '' }) });

		await expect(route.call(ctx)).rejects.toThrow('Set the start of the range');
	});

	it("should throw NodeApiError with the gateway's message when it refuses the report", async () => {
		const { ctx } = fakeContext({
			parameters: spendParameters(),
			answers: [gatewayError(401, 'this key was revoked', 'authentication_error')],
		});

		await expect(route.call(ctx)).rejects.toMatchObject({
			message: 'this key was revoked',
			httpCode: '401',
			description: 'type: authentication_error, request id: req_err_1',
		});
	});
});
