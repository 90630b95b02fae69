import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { gatewayRequest } from '../../shared/transport';
import type { SpendReport } from '../../shared/types';

/** The query of GET /v1/spend from the node's scope, period and grouping. */
export function buildSpendQuery(ctx: IExecuteFunctions, itemIndex: number): IDataObject {
	const scope = ctx.getNodeParameter('scope', itemIndex) as string;
	const period = ctx.getNodeParameter('period', itemIndex) as string;
	const groupBy = ctx.getNodeParameter('groupBy', itemIndex) as string;
	const qs: IDataObject = {};

	if (period === 'custom') {
		qs.since = ctx.getNodeParameter('since', itemIndex) as string;
		const until = ctx.getNodeParameter('until', itemIndex, '') as string;
		if (until) qs.until = until;
		if (!qs.since) {
			throw new NodeOperationError(ctx.getNode(), 'Set the start of the range', { itemIndex });
		}
	} else {
		qs.period = period;
	}

	if (scope === 'workflow') qs.workflow_id = ctx.getWorkflow().id;
	if (groupBy !== 'none') qs.group_by = groupBy;
	return qs;
}

/**
 * Get Spend: the gateway's spend report, as one item or one item per group; each
 * item carries the gateway's facts about this call, as every operation's items do.
 */
export async function get(this: IExecuteFunctions, itemIndex: number): Promise<IDataObject[]> {
	const qs = buildSpendQuery(this, itemIndex);
	const { body: report, facts } = await gatewayRequest<SpendReport>(this, itemIndex, {
		method: 'GET',
		path: '/v1/spend',
		qs,
	});

	const perGroup = qs.group_by && this.getNodeParameter('output', itemIndex) === 'groups';
	if (!perGroup) return [{ ...report, gateway: facts }];

	const period = { since: report.since, until: report.until, group_by: report.group_by };
	return (report.groups ?? []).map((group) => ({ ...group, ...period, gateway: { ...facts } }));
}
