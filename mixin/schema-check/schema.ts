// What a generated dashboard must satisfy: Grafana's published dashboard schema (@grafana/schema,
// of each Grafana version package.json lists: the one docker-compose.yml runs and an older one
// still in wide use; check.mjs maps `@grafana/schema` to one of them at a time), with each
// panel's `options` and `fieldConfig.defaults.custom` checked against the schema of its panel
// plugin.
//
// Two places stay open, as the schema itself leaves them open: a query's fields beyond the
// common DataQuery ones belong to its data source plugin (PromQL `expr`, SQL `rawSql`), and a
// panel's options may omit fields (Grafana fills in the plugin's defaults), so `options` is
// Partial at its top level. Everything present is type-checked; an unknown property is an error.
import type {
  AnnotationContainer,
  AnnotationQuery,
  Dashboard,
  DataQuery,
  Panel,
  RowPanel,
} from '@grafana/schema';
import type { Options as BarGaugeOptions } from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen.js';
import type { Options as StatOptions } from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen.js';
import type {
  FieldConfig as TableFieldConfig,
  Options as TableOptions,
} from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen.js';
import type {
  FieldConfig as TimeSeriesFieldConfig,
  Options as TimeSeriesOptions,
} from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.js';

type Query = DataQuery & Record<string, unknown>;

// JSON holds an enum's values, not TypeScript's enum members: a string enum becomes the union of
// its values (`${E}`), everywhere in the type. Numeric enums already accept their values.
type Jsonify<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer E>
      ? Array<Jsonify<E>>
      : T extends object
        ? { [K in keyof T]: Jsonify<T[K]> }
        : T;

type PanelOf<Type extends string, Options, Custom = Record<string, unknown>> = Omit<
  Panel<Options, Custom>,
  'type' | 'options' | 'targets'
> & {
  type: Type;
  options: Partial<Options>;
  targets: Query[];
};

// The panel plugins this repository's dashboards use; another one is an error until added here.
export type CheckedPanel =
  | PanelOf<'stat', StatOptions>
  | PanelOf<'bargauge', BarGaugeOptions>
  | PanelOf<'table', TableOptions, TableFieldConfig>
  | PanelOf<'timeseries', TimeSeriesOptions, TimeSeriesFieldConfig>;

export type CheckedRow = Omit<RowPanel, 'panels'> & { panels: CheckedPanel[] };

export type CheckedDashboard = Jsonify<
  Omit<Dashboard, 'panels' | 'annotations'> & {
    panels: Array<CheckedPanel | CheckedRow>;
    annotations: Omit<AnnotationContainer, 'list'> & {
      list: Array<Omit<AnnotationQuery, 'target'> & { target?: Query }>;
    };
  }
>;
