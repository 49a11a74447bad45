#include "embed/disease_catalog.h"

#include <cctype>

namespace ctdb::embed {

const std::vector<DiseasePrompts>& DefaultDiseaseCatalog() {
  static const std::vector<DiseasePrompts> kCatalog = {
      {"Medical material",
       {"Medical material is present.", "A central venous catheter is in place.", "Sternotomy wires are noted.",
        "Surgical clips are seen."},
       {"No medical material.", "No catheters or devices.", "No surgical material is seen."}},
      {"Arterial wall calcification",
       {"Arterial wall calcification.", "Calcified atherosclerotic plaques in the aorta.",
        "Atherosclerotic calcification of the thoracic aorta.", "Aortic wall calcifications are present."},
       {"No arterial wall calcification.", "No atherosclerotic calcification of the aorta.",
        "The aortic wall is not calcified."}},
      {"Cardiomegaly",
       {"Cardiomegaly.", "The heart is enlarged.", "Enlarged cardiac silhouette.", "Cardiac enlargement."},
       {"No cardiomegaly.", "Normal heart size.", "The heart is not enlarged."}},
      {"Pericardial effusion",
       {"Pericardial effusion.", "Fluid in the pericardial sac.", "A small pericardial effusion is present."},
       {"No pericardial effusion.", "No pericardial fluid.", "The pericardium is unremarkable."}},
      {"Coronary artery wall calcification",
       {"Coronary artery calcification.", "Calcified plaques in the coronary arteries.",
        "Coronary arterial wall calcifications are present."},
       {"No coronary artery calcification.", "No coronary calcifications.", "The coronary arteries are not calcified."}},
      {"Hiatal hernia",
       {"Hiatal hernia.", "A sliding hiatal hernia is present.", "Herniation of the stomach through the hiatus."},
       {"No hiatal hernia.", "No herniation through the esophageal hiatus.", "The hiatus is unremarkable."}},
      {"Lymphadenopathy",
       {"Lymphadenopathy.", "Enlarged mediastinal lymph nodes.", "Pathologically enlarged lymph nodes are present."},
       {"No lymphadenopathy.", "No enlarged lymph nodes.", "No mediastinal or hilar lymphadenopathy."}},
      {"Emphysema",
       {"Emphysema.", "Emphysematous changes of the lungs.", "Centrilobular emphysema is present.",
        "Paraseptal emphysema."},
       {"No emphysema.", "No emphysematous changes.", "The lung parenchyma shows no emphysema."}},
      {"Atelectasis",
       {"Atelectasis.", "Subsegmental atelectasis.", "Linear atelectasis in the lung base.",
        "Atelectatic changes are seen."},
       {"No atelectasis.", "No atelectatic changes.", "The lungs are fully expanded."}},
      {"Lung nodule",
       {"Lung nodule.", "A pulmonary nodule is present.", "Solid nodule in the lung.", "A small pulmonary nodule."},
       {"No lung nodule.", "No pulmonary nodules.", "No nodules are seen in the lungs."}},
      {"Lung opacity",
       {"Lung opacity.", "Ground-glass opacity in the lung.", "Patchy opacities in the lung parenchyma.",
        "Increased density in the lung."},
       {"No lung opacity.", "No ground-glass opacity.", "The lung parenchyma is clear."}},
      {"Pulmonary fibrotic sequela",
       {"Pulmonary fibrotic sequelae.", "Fibrotic scarring in the lung.", "Fibrotic bands are seen in the lungs."},
       {"No fibrotic sequelae.", "No pulmonary fibrosis.", "No fibrotic changes in the lungs."}},
      {"Pleural effusion",
       {"Pleural effusion.", "Fluid in the pleural space.", "A pleural effusion is present.",
        "Bilateral pleural effusions."},
       {"No pleural effusion.", "No pleural fluid.", "The pleural spaces are clear."}},
      {"Mosaic attenuation pattern",
       {"Mosaic attenuation pattern.", "Mosaic attenuation of the lungs.", "Heterogeneous mosaic lung attenuation."},
       {"No mosaic attenuation.", "Homogeneous lung attenuation.", "No mosaic attenuation pattern."}},
      {"Peribronchial thickening",
       {"Peribronchial thickening.", "Thickened bronchial walls.", "Peribronchial cuffing is present."},
       {"No peribronchial thickening.", "No bronchial wall thickening.", "The bronchial walls are not thickened."}},
      {"Consolidation",
       {"Consolidation.", "Consolidation in the lung.", "Airspace consolidation is present.",
        "Consolidative opacity with air bronchograms."},
       {"No consolidation.", "No airspace consolidation.", "No consolidative opacity."}},
      {"Bronchiectasis",
       {"Bronchiectasis.", "Dilated bronchi.", "Cylindrical bronchiectasis is present.", "Bronchiectatic changes."},
       {"No bronchiectasis.", "The bronchi are not dilated.", "No bronchiectatic changes."}},
      {"Interlobular septal thickening",
       {"Interlobular septal thickening.", "Thickened interlobular septa.", "Septal thickening in the lungs."},
       {"No interlobular septal thickening.", "No septal thickening.", "The interlobular septa are normal."}},
  };
  return kCatalog;
}

DiseasePrompts DefaultPromptsFor(const std::string& name) {
  for (const auto& d : DefaultDiseaseCatalog()) {
    if (d.name == name) return d;
  }
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string cap = name;
  if (!cap.empty()) cap[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(cap[0])));
  return {name,
          {cap + ".", cap + " is present.", "Findings consistent with " + lower + "."},
          {"No " + lower + ".", "No evidence of " + lower + ".", cap + " is not seen."}};
}

}  // namespace ctdb::embed
