// Type declarations for seeds/generate.mjs (plain Node ESM, no build step), so TypeScript tests
// and scripts can import it.

export interface Rng {
  nextU32(): number;
  float(): number;
  int(n: number): number;
  normal(): number;
  shuffle<T>(arr: T[]): T[];
  mask(n: number, k: number): Uint8Array;
  picker<T>(items: readonly T[], weights: readonly number[]): () => T;
}
export declare const MAX_SEED: number;
export declare function createRng(seed: number, label: string): Rng;
export declare function expDet(x: number): number;

export declare const ID_WEIGHTS: readonly number[];
export declare const ID_CHECK_CHARS: string;
export interface ParsedResidentId {
  areaCode: string;
  birthDate: string;
  sequence: string;
  sex: 'M' | 'F';
  checkChar: string;
}
export declare function residentIdCheckChar(first17: string): string;
export declare function parseResidentId(id: string): ParsedResidentId | null;
export declare function ageOn(birthDate: string, referenceDate: string): number;
export declare function isValidAdultResidentId(id: string, referenceDate: string, minAge?: number): boolean;
export declare function normaliseKey(s: string): string;
export declare function toFullWidth(s: string): string;

export declare const REFERENCE_DATE: string;
export interface AreaCode {
  code: string;
  name: string;
  pinyin: string;
  weight: number;
}
export declare const WENZHOU_AREA_CODES: readonly AreaCode[];
export interface Ward {
  ward: string;
  weight: number;
  costMedian: number;
  losMedian: number;
  adverseRate: number;
  ageMean: number;
}
export declare const WARDS: readonly Ward[];
export declare const SPECIALIST_WARDS: readonly string[];
export declare const SPECIALIST_DROP_PROBABILITY: number;
export declare const MIN_COST_CENTS: number;
export declare const MAX_COST_CENTS: number;
export declare const ADMISSIONS_PER_PATIENT: { readonly values: readonly number[]; readonly weights: readonly number[] };
export declare const AGE_BINS: readonly number[];
export declare const COST_BINS_YUAN: readonly number[];
export declare function generateAdmission(rng: Rng, ward: Ward): { lengthOfStayDays: number; costCents: number; adverseEvent: 0 | 1 };
export declare function drawAge(rng: Rng, mean: number, sd: number, min: number, max: number): number;
export declare function formatCents(cents: number | bigint): string;
export declare function meanCents(sumCents: bigint, n: number): string | null;

export interface ScenarioParams {
  seed: number;
  pharma: number;
  hospital: number;
  overlap: number;
  hospitals: number;
  rows: number;
  bom: boolean;
  crlf: boolean;
}
export declare const GENERATOR_VERSION: number;
export declare const DEFAULTS: Readonly<ScenarioParams>;
export declare const LIMITS: Readonly<{ pharma: number; hospital: number; hospitals: number; rows: number }>;
export declare const NOISE: {
  readonly pharma: {
    readonly duplicatePatients: number;
    readonly fullWidth: number;
    readonly lowercaseX: number;
    readonly whitespace: number;
    readonly ideographicSpace: number;
    readonly quotedId: number;
    readonly note: number;
  };
  readonly hospital: { readonly lowercaseX: number; readonly whitespace: number };
};
export declare const NOTES: readonly string[];

export interface GroupStats {
  count: number;
  costSumYuan: string;
  costMeanYuan: string | null;
  adverseEvents: number;
  lengthOfStayDaysSum: number;
  ageHistogram: number[];
  costHistogram: number[];
}
export interface Truth {
  generator: string;
  generatorVersion: number;
  syntheticData: true;
  params: ScenarioParams;
  referenceDate: string;
  normalisation: string;
  files: Record<string, { bytes: number; sha256: string }>;
  psi: {
    pharmaRows: number;
    pharmaDistinctKeys: number;
    hospitalRows: number;
    hospitalDistinctKeys: number;
    intersectionSize: number;
    intersectionHospitalRows: number;
    intersectionCostSumYuan: string;
    intersectionCostMeanPerAdmissionYuan: string | null;
    intersectionCostMeanPerPatientYuan: string | null;
    intersectionAdverseEvents: number;
    intersectionPatientsWithAdverseEvent: number;
    hospitalCostSumYuan: string;
    hospitalAdverseEvents: number;
  };
  aggregation: {
    columns: string[];
    wards: string[];
    ageBins: number[];
    costBinsYuan: number[];
    perWard: Record<string, GroupStats>;
    totals: GroupStats;
    perHospital: Array<GroupStats & { file: string; wards: string[] }>;
  };
  noise: {
    rates: typeof NOISE;
    counts: {
      pharma: {
        rows: number;
        duplicateRows: number;
        fullWidthRows: number;
        rowsEndingInX: number;
        lowercaseXRows: number;
        whitespaceRows: number;
        ideographicSpaceRows: number;
        quotedIdRows: number;
        noteRows: number;
      };
      hospital: { rows: number; rowsEndingInX: number; lowercaseXRows: number; whitespaceRows: number };
    };
  };
}
export declare function resolveParams(params?: Partial<ScenarioParams>): ScenarioParams;
export declare function generateScenario(params?: Partial<ScenarioParams>): { params: ScenarioParams; files: Map<string, string>; truth: Truth };

export declare const DEFAULT_OUT: string;
export declare const HELP: string;
export declare function writeScenario(
  params?: Partial<ScenarioParams>,
  outDir?: string,
): { outDir: string; files: string[]; truth: Truth; params: ScenarioParams };
export declare function parseCliArgs(argv: string[]): { help: true } | { help: false; outDir: string; params: Partial<ScenarioParams> };
export declare function main(argv: string[]): number;
