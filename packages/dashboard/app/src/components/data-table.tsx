import type { ComponentChildren } from "preact";

/** A listing: column headers, the rows the screen renders, scrolling sideways on a phone. */
export function DataTable(props: {
  readonly columns: readonly string[];
  readonly children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            {props.columns.map((column) => (
              <th key={column} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
