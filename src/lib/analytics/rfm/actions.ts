// What a shop usually does for each segment of the default R x F map: the step a reader of the report can take.

/**
 * One suggested action per segment of the default map (docs/rfm.md), in the spirit of the classic RFM playbooks:
 * reward and keep the best, grow the recent, win back the lapsing, and spend little on the lost. A custom map's
 * segments mean what their author says, so they get none.
 */
export const SEGMENT_ACTIONS: Readonly<Record<string, string>> = {
  champions: 'Reward: early access, perks; ask for referrals.',
  'loyal customers': 'Upsell premium lines; invite to loyalty scheme.',
  'potential loyalists': 'Second-order incentive; recommend related items.',
  'new customers': 'Welcome series; make the second order easy.',
  promising: 'Offers on what they viewed; free shipping.',
  'need attention': 'Time-limited offers from past purchases.',
  'about to sleep': 'Reactivate: bestsellers and a modest discount.',
  'at risk': 'Personal win-back email with a strong offer.',
  "can't lose them": 'Call or write personally; best win-back offer.',
  hibernating: 'Low-cost broad campaigns only; one last offer.',
}

/** The suggested action for a segment of the map `source` (`default` or a file); null for a custom map. */
export function segmentAction(source: unknown, segment: string): string | null {
  if (source !== 'default' && source !== undefined) return null
  return SEGMENT_ACTIONS[segment] ?? null
}
