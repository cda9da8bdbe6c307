/** One figure with its name, in the grid of cards the overview and a key's page show. */
export function StatCard(props: {
  readonly label: string;
  readonly value: string;
  readonly testid?: string;
}) {
  return (
    <div class="card">
      <div class="card-label">{props.label}</div>
      <div class="card-value" data-testid={props.testid}>
        {props.value}
      </div>
    </div>
  );
}
